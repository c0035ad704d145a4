{{- define "dnis.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dnis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dnis.labels" -}}
app.kubernetes.io/name: {{ include "dnis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "dnis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dnis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dnis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dnis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dnis.secretName" -}}
{{- default (include "dnis.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "dnis.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The container security settings shared by the service and the migration Job. */}}
{{- define "dnis.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The secret environment: database URL and admin token, never in a ConfigMap. */}}
{{- define "dnis.secretEnv" -}}
- name: DNIS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dnis.secretName" . }}
      key: database-url
- name: DNIS_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "dnis.secretName" . }}
      key: admin-token
      optional: true
{{- end -}}
