"""The interface documents (WSDL 1.1 and its XML schemas, which also validate requests) of a spyne
application whose services may live in several namespaces."""

from __future__ import annotations

from typing import Any

from spyne.const.xml import WSDL11
from spyne.interface import InterfaceDocumentsBase
from spyne.interface.wsdl import Wsdl11


class _MultiNamespaceWsdl11(Wsdl11):  # type: ignore[misc]
    """Spyne's WSDL, with each thing declared once when an application has service classes in
    several namespaces (the agent endpoint serves the DNIS namespace's operations too)."""

    def add_missing_elements_for_methods(self) -> None:
        """Spyne declares every operation's elements once more in the target namespace, typed from
        the operation's own one (a second FreeDnisAllocationRequest, in the agent namespace). Each
        operation's elements are declared in its own namespace's schema already: nothing is missing."""

    def add_port_type(self, service: Any, root: Any, service_name: str, types: Any, url: str) -> None:
        """Spyne points an operation's input and output at the message named like its element, in
        the element's namespace; but every wsdl:message is in the WSDL's target namespace, so a
        client finds no message for an operation of another namespace and drops the operation."""
        super().add_port_type(service, root, service_name, types, url)
        tns = self.interface.get_namespace_prefix(self.interface.tns)
        for port_type in self.port_type_dict.values():
            for operation in port_type.iterfind(WSDL11("operation")):
                for message in [*operation.iterfind(WSDL11("input")), *operation.iterfind(WSDL11("output"))]:
                    message.set("message", f"{tns}:{message.get('message').partition(':')[2]}")

    def _get_applied_service_name(self, service: Any) -> str:
        """One wsdl:service named after the application, not one per service class."""
        name: str = self.interface.get_name()
        return name

    def _add_port_to_service(self, service: Any, port_name: str, binding_name: str) -> None:
        """One port: every service class adds the application's port again, and port names are unique."""
        if service.find(WSDL11("port")) is None:
            super()._add_port_to_service(service, port_name, binding_name)


class Documents(InterfaceDocumentsBase):  # type: ignore[misc]
    """An application's interface documents (Application(documents_container=Documents))."""

    def __init__(self, interface: Any) -> None:
        super().__init__(interface, wsdl11=_MultiNamespaceWsdl11(interface))
