#pragma once
// The instant the message tests take as now, so that what they say about expiry holds on any day.

#include <bcast/message/time.hpp>

namespace bcast::test {

inline const message::time_point now = *message::parse_time("2026-11-26T09:00:00.000Z");

}  // namespace bcast::test
