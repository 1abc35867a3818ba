"""Landing: files and CRM exports in, immutable segments and quarantine out."""
