#pragma once
// The whole message layer: pure data, no I/O.

#include <bcast/message/canonical.hpp>
#include <bcast/message/category.hpp>
#include <bcast/message/decode.hpp>
#include <bcast/message/encode.hpp>
#include <bcast/message/envelope.hpp>
#include <bcast/message/json.hpp>
#include <bcast/message/lifecycle.hpp>
#include <bcast/message/send_request.hpp>
#include <bcast/message/target.hpp>
#include <bcast/message/time.hpp>
#include <bcast/message/ulid.hpp>
#include <bcast/message/utf8.hpp>
