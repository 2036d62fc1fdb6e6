"""Rate-limit counters (``src.domain.admission.RateLimiter``): in the process, or in Redis."""
