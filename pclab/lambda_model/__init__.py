"""Lambda's documented rules as pure code: prices, concurrency, Application Auto Scaling.

One copy of the facts the local cloud (wall clock), the planner (simulated clock) and the analysis
(cost) all need (DESIGN.md, "One model of Lambda, two clocks"). Each rule cites its AWS source
once, where it is defined.

Imports nothing of pclab and nothing outside the standard library, so any part may use it and it
stays fast to test.
"""
