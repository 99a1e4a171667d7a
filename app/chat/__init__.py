"""Chat: answers laid out for Slack and Mattermost (pure formatting; the HTTP route is app.api.routes.chat)."""
