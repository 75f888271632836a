"""Flask-free domain services: catalogue, identity and tiers, quotas and slots in memory or Redis, sessions, usage."""
