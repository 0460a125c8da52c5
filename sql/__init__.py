"""SQL templates (``*.sql``), written once and rendered through sqlglot for the connected dialect."""
