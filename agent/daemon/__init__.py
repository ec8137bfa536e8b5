"""The daemon: a long-lived process that keeps the model loaded and runs tasks handed to it over a
private socket; its wire format, queue, worker and the client side."""
