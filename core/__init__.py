"""What every app shares: errors and the two API dialects, request ids and log filters, time
parsing, hashing and encryption, client IP and trusted proxies, rate limits, principals and
content negotiation. Nothing here knows about an app's models."""
