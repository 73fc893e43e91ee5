"""The what-if planner (``pclab plan``): how much provisioned concurrency, and when, for a given
traffic, at what cost against the cold starts it removes.

A discrete-event simulation of Lambda's concurrency model (``pclab.lambda_model``'s rules in
simulated time) over arrivals generated or read from files, one run per PC option, priced and
compared. Pure: no boto3; imports ``pclab.lambda_model`` and nothing else of pclab. Modules:
arrivals/inputs (the workload), options/control (how PC changes), simulate/results (the model),
cost/recommend, planner (all options in parallel), output/page (plan.json, table, plan.html),
cli (the command). The model and its theory checks: docs/plan.md.
"""
