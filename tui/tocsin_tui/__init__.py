"""The tocsin dashboard (Textual). Talks to the daemon only through tocsin.client."""
