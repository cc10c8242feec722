"""Span names and attribute keys: the OpenTelemetry GenAI semantic conventions, plus ours.

The GenAI names are written out here rather than imported from
`opentelemetry.semconv._incubating`, a private module whose GenAI constants are marked
deprecated there since the conventions moved to their own repository; the strings are what
matters to Application Insights and to queries.
"""

from __future__ import annotations

# --- GenAI semantic conventions ----------------------------------------------------------
OPERATION_NAME = "gen_ai.operation.name"  # invoke_agent | chat | execute_tool
PROVIDER_NAME = "gen_ai.provider.name"  # azure.ai.openai | openai | ...
SYSTEM = "gen_ai.system"  # the provider under its former name, still read by some viewers
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
# Input tokens served from the provider's prompt cache (included in input_tokens).
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # content: only when capture is on
TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # content: only when capture is on
INPUT_MESSAGES = "gen_ai.input.messages"  # content: only when capture is on
OUTPUT_MESSAGES = "gen_ai.output.messages"  # content: only when capture is on
ERROR_TYPE = "error.type"
# A person's feedback on an answer: a `gen_ai.evaluation.result` event on a `feedback` span.
EVALUATION_RESULT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"  # content: only when capture is on
USER_FEEDBACK = "user_feedback"

INVOKE_AGENT = "invoke_agent"
CHAT = "chat"
EXECUTE_TOOL = "execute_tool"

# --- This app's own ---------------------------------------------------------------------
RUN_ID = "smartbot.run_id"
SPECIALIST = "smartbot.specialist"  # the specialist that answered the turn
OUTCOME = "smartbot.outcome"  # answered | interrupted | error | cancelled | not_found
NODE = "smartbot.node"  # the graph node that made a model call (supervisor, docsearch, ...)
TOOL_STATUS = "smartbot.tool.status"  # success | error
USAGE_TOTAL_TOKENS = "smartbot.usage.total_tokens"
# Span events of a turn about tool calls a person approves (APPROVE_TOOLS, agent.approvals).
APPROVAL_REQUESTED = "smartbot.approval.requested"  # the turn paused before a call
APPROVAL_DECIDED = "smartbot.approval.decided"  # the turn applied a decision on a call
INTERRUPT_ID = "smartbot.approval.interrupt_id"
DECISION = "smartbot.approval.decision"  # approve | edit | reject
DECISION_REASON = "smartbot.approval.reason"  # new_question: declined by a new question
TOOL_CALL_ID = "gen_ai.tool.call.id"

AGENT = "smartbot"  # gen_ai.agent.name of the turn span: the multi-agent bot as a whole
# What `gen_ai.provider.name` / `gen_ai.system` say for each MODEL_PROVIDER.
PROVIDERS = {"azure": ("azure.ai.openai", "az.ai.openai"), "openai": ("openai", "openai"),
             "offline": ("smartbot.offline", "smartbot.offline")}
