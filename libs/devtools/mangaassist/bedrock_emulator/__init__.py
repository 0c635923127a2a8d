"""A local server that speaks the Amazon Bedrock runtime wire protocol.

Not a language model and never imported by production code: it runs as its own
process (``python -m mangaassist.bedrock_emulator``) so the inference service's real
aioboto3 code path (``converse_stream``, ``apply_guardrail``) can run with no AWS
account, and tests can inject the faults real Bedrock produces.
"""
