"""Image enrichment: object detection on the lake's Telegram photos and the load of
its results into the warehouse."""
