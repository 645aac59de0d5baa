"""The operator CLI: verbs that call the admin API over HTTP (never Redis), plus apply and lint."""
