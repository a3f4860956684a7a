"""The epdev dashboard (Textual). Reaches the devserver only through its HTTP client."""
