"""aiogram routers: read the event, call one service, render the reply."""
