"""The HTTP routes: questions and documents, the staff pages, the chat bots."""
