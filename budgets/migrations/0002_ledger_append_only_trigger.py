"""On PostgreSQL, refuse UPDATE and DELETE of ledger rows in the database itself, so the
ledger stays append-only even for raw SQL. (SQLite, the local default, relies on the model.)"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION budgets_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'budgets_ledgerentry is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER budgets_ledger_append_only
    BEFORE UPDATE OR DELETE ON budgets_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION budgets_ledger_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS budgets_ledger_append_only ON budgets_ledgerentry;
DROP FUNCTION IF EXISTS budgets_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # params=None: the SQL is sent as is; with params Django would read the "%" in the
        # RAISE format string as a placeholder and fail.
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("budgets", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
