"""Share links and upload links (see the sharing issue)."""
