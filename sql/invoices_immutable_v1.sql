-- Invoices and credit notes never change once issued: UPDATE and DELETE are refused.
-- Created in each tenant schema by migration t0005 (the search_path names the schema).
CREATE OR REPLACE FUNCTION invoices_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoices are immutable: % refused on invoice %', TG_OP, OLD.number
        USING ERRCODE = 'raise_exception', CONSTRAINT = 'invoices_immutable';
END;
$$;

CREATE TRIGGER invoices_immutable
    BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();
