#pragma once
// The whole broker layer: what bcast keeps in Redis.

#include <bcast/broker/acl.hpp>
#include <bcast/broker/catchup.hpp>
#include <bcast/broker/display_journal.hpp>
#include <bcast/broker/display_pipeline.hpp>
#include <bcast/broker/frame.hpp>
#include <bcast/broker/keys.hpp>
#include <bcast/broker/live_numbering.hpp>
#include <bcast/broker/messages.hpp>
#include <bcast/broker/presence.hpp>
#include <bcast/broker/publish.hpp>
#include <bcast/broker/receipt_aggregator.hpp>
#include <bcast/broker/receipt_writer.hpp>
#include <bcast/broker/receipts.hpp>
#include <bcast/broker/store_data.hpp>
#include <bcast/broker/store_reach.hpp>
#include <bcast/broker/store_state.hpp>
#include <bcast/broker/tracker.hpp>
