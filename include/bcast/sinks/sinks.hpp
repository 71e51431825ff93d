#pragma once
// The whole sinks layer.

#include <bcast/sinks/child.hpp>
#include <bcast/sinks/exec.hpp>
#include <bcast/sinks/jsonl.hpp>
#include <bcast/sinks/make_sink.hpp>
#include <bcast/sinks/notify_send.hpp>
#include <bcast/sinks/queue.hpp>
#include <bcast/sinks/sink.hpp>
#include <bcast/sinks/sink_set.hpp>
#include <bcast/sinks/terminal.hpp>
#include <bcast/sinks/text.hpp>
#include <bcast/sinks/win32.hpp>
#include <bcast/sinks/win32_dialog.hpp>
#include <bcast/sinks/words.hpp>
#include <bcast/sinks/zenity.hpp>
