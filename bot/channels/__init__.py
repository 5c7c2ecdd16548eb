"""Where customers talk to the bot: Telegram, the terminal, and request retries."""
