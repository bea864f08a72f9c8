"""wg with Django: enqueue when the transaction commits, or inside it on PostgreSQL
(docs/integrations.md)."""
