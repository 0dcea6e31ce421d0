"""Self-metrics of the store, under Prometheus's own names so existing dashboards work."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TSDBMetrics:
    """All metric objects of one store, registered on the registry the owner passes in."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        self.head_series = Gauge("prometheus_tsdb_head_series", "Total number of series in the head block.",
                                 registry=r)
        self.head_series_created = Counter("prometheus_tsdb_head_series_created_total",
                                           "Total number of series created in the head.", registry=r)
        self.head_series_removed = Counter("prometheus_tsdb_head_series_removed_total",
                                           "Total number of series removed in the head.", registry=r)
        self.head_chunks = Gauge("prometheus_tsdb_head_chunks",
                                 "Total number of closed chunk pages in the head.", registry=r)
        self.head_min_time = Gauge("prometheus_tsdb_head_min_time",
                                   "Minimum time bound of the head block (ms).", registry=r)
        self.head_max_time = Gauge("prometheus_tsdb_head_max_time",
                                   "Maximum timestamp of the head block (ms).", registry=r)
        self.samples_appended = Counter("prometheus_tsdb_head_samples_appended_total",
                                        "Total number of appended samples.", ["type"], registry=r)
        self.out_of_order = Counter("prometheus_tsdb_out_of_order_samples_total",
                                    "Total number of out of order samples ingestion failed attempts.",
                                    ["type"], registry=r)
        self.out_of_bound = Counter("prometheus_tsdb_out_of_bound_samples_total",
                                    "Total number of out of bound samples ingestion failed attempts.",
                                    ["type"], registry=r)
        self.too_old = Counter("prometheus_tsdb_too_old_samples_total",
                               "Total number of out of order samples ingestion failed attempts with out of "
                               "order support enabled, but sample outside of time window.", ["type"],
                               registry=r)
        self.ooo_appended = Counter("prometheus_tsdb_head_out_of_order_samples_appended_total",
                                    "Total number of appended out of order samples.", ["type"], registry=r)
        self.vertical_compactions = Counter("prometheus_tsdb_vertical_compactions_total",
                                            "Total number of compactions done on overlapping blocks.",
                                            registry=r)
        self.duplicate = Counter("prometheus_tsdb_duplicate_samples_total",
                                 "Samples refused for a timestamp already holding a different value.",
                                 registry=r)
        self.head_truncations = Counter("prometheus_tsdb_head_truncations_total",
                                        "Total number of head truncations attempted.", registry=r)
        self.wal_corruptions = Counter("prometheus_tsdb_wal_corruptions_total",
                                       "Total number of WAL corruptions.", registry=r)
        self.wal_truncations = Counter("prometheus_tsdb_wal_truncations_total",
                                       "Total number of WAL truncations attempted.", registry=r)
        self.wal_fsyncs = Counter("prometheus_tsdb_wal_fsyncs_total", "Total number of WAL fsyncs.",
                                  registry=r)
        self.wal_bytes = Counter("prometheus_tsdb_wal_written_bytes_total",
                                 "Bytes written to the WAL.", registry=r)
        self.checkpoints = Counter("prometheus_tsdb_checkpoint_creations_total",
                                   "Total number of checkpoint creations attempted.", registry=r)
        self.replay_seconds = Gauge("prometheus_tsdb_data_replay_duration_seconds",
                                    "Time taken to replay the data on disk.", registry=r)
        self.compactions = Counter("prometheus_tsdb_compactions_total",
                                   "Total number of compactions that were executed for the partition.",
                                   registry=r)
        self.compactions_failed = Counter("prometheus_tsdb_compactions_failed_total",
                                          "Total number of compactions that failed for the partition.",
                                          registry=r)
        self.blocks_loaded = Gauge("prometheus_tsdb_blocks_loaded",
                                   "Number of currently loaded data blocks.", registry=r)
        self.block_corruptions = Counter("guardia_tsdb_block_corruptions_total",
                                         "Block chunk pages that failed their checksum and were skipped.",
                                         registry=r)
        self.blocks_bytes = Gauge("prometheus_tsdb_storage_blocks_bytes",
                                  "The number of bytes currently used for local storage by all blocks.",
                                  registry=r)
        self.time_retentions = Counter("prometheus_tsdb_time_retentions_total",
                                       "Number of times that blocks were deleted because the maximum time "
                                       "limit was exceeded.", registry=r)
        self.size_retentions = Counter("prometheus_tsdb_size_retentions_total",
                                       "Number of times that blocks were deleted because the maximum number "
                                       "of bytes was exceeded.", registry=r)
        # Children bound once: ``labels()`` costs a dict lookup and a lock per call.
        self.appended_float = self.samples_appended.labels("float")
        self.ooo_float = self.out_of_order.labels("float")
        self.oob_float = self.out_of_bound.labels("float")
        self.too_old_float = self.too_old.labels("float")
        self.ooo_appended_float = self.ooo_appended.labels("float")
        self.appended_histogram = self.samples_appended.labels("histogram")
        self.ooo_histogram = self.out_of_order.labels("histogram")
        self.oob_histogram = self.out_of_bound.labels("histogram")
        self.too_old_histogram = self.too_old.labels("histogram")
        self.ooo_appended_histogram = self.ooo_appended.labels("histogram")
        self.lowest_timestamp = Gauge("prometheus_tsdb_lowest_timestamp",
                                      "Lowest timestamp value stored in the database (ms).", registry=r)
