"""Configuration: gate.yaml, the policy, the signature rules and the SLO grammar; strict YAML."""
