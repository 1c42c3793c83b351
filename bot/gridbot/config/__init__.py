"""The bot's settings: the pydantic model of bot.yml and the YAML reader behind it."""
