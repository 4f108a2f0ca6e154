"""The list's web service (`serve`): one-click unsubscribe, preferences, sign-up, confirmation and
bounce webhooks. Flask and waitress are imported here only.

Public names: app.create_app, server.serve, server.Running, webhooks.verify, webhooks.events.
"""

__all__ = ["app", "server", "webhooks"]
