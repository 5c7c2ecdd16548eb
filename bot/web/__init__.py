"""kefu\x27s one web application: the Telegram webhook and the operations endpoints."""
