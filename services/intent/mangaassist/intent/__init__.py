"""Intent service: classifies customer messages and routes them to a model tier."""
