"""The proving node (`zkinfer serve`): KServe v2 HTTP front, SQLite job store, proving worker processes."""
