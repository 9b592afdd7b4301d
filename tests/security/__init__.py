"""Security tests: auth, ACLs, TLS, WebSockets, hostile input."""
