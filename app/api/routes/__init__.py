"""The HTTP routes: questions (`ask`), liveness and readiness (`probes`), documents, the staff pages, the chat bots."""
