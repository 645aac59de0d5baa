"""The caller side of the data plane: a lean HTTP/1.1 server for the hot routes."""
