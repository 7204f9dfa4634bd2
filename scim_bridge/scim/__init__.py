"""The pure SCIM protocol: schemas, filters, PATCH, listing, ETags. No Flask, no database."""
