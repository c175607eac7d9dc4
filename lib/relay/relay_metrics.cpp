#include "relay/relay_metrics.h"

namespace parley::relay {
namespace {

void counter(std::string& out, const char* name, const char* help, std::uint64_t value,
             const char* type = "counter") {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
           " " + std::to_string(value) + "\n";
}

std::uint64_t get(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

std::string RelayMetrics::render(std::size_t connections) const {
    std::string out;
    counter(out, "parley_relay_connections", "Open client connections.", connections, "gauge");
    counter(out, "parley_relay_messages_stored_total", "Messages committed to the log.", get(messages_stored));
    counter(out, "parley_relay_stored_bytes_total", "Envelope bytes committed to the log.", get(bytes_stored));
    counter(out, "parley_relay_deliveries_total", "Deliver and NewHead frames queued to connections.",
            get(deliveries));
    counter(out, "parley_relay_delivered_bytes_total", "Bytes of those frames.", get(bytes_delivered));
    counter(out, "parley_relay_backlog_items_total", "Stored items sent to joining connections.",
            get(backlog_items));
    counter(out, "parley_relay_commit_batches_total", "Group-commit transactions.", get(commit_batches));
    counter(out, "parley_relay_resends_already_stored_total",
            "Resent messages the log already held: acknowledged, not stored or delivered again.",
            get(resends_already_stored));
    counter(out, "parley_relay_storage_errors_total", "Failed storage reads and writes.", get(storage_errors));
    counter(out, "parley_relay_pruned_items_total", "Log items removed by retention.", get(pruned_items));
    counter(out, "parley_relay_refused_connections_total",
            "Connections refused by the total or per-address connection limit.", get(refused_connections));
    counter(out, "parley_relay_throttled_reads_total",
            "Times a connection's reading was paused by the message rate limit.", get(throttled_reads));
    counter(out, "parley_relay_slow_consumers_cut_total",
            "Connections closed because their send queue passed its cap.", get(slow_consumers_cut));
    return out;
}

}  // namespace parley::relay
