"""Analysis: health and slow-query insight computed from the service's own spans."""
