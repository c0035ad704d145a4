-- Every change to who may call, and under which tenant policy, tells each replica to forget the
-- credentials it has cached (dnis_service/domain/credential_cache.py). The notification is sent
-- when the changing transaction commits.

CREATE FUNCTION notify_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dnis_credentials', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER scopes_credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON scopes
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER applications_credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
CREATE TRIGGER users_credentials_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_credentials_changed();
