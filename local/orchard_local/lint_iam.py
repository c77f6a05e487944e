"""`make lint`: parliament over every policy of the deployed template; each finding printed, non-zero exit on any.

parliament (https://github.com/duo-labs/parliament) lints IAM policies against the Service Authorization Reference:
actions, resource ARN formats and condition keys. It has no separate resource-policy mode (its issue 14,
https://github.com/duo-labs/parliament/issues/14): a statement with a Principal is checked as a resource-policy
statement. The policies are the identity policies of every role (the functions' generated ones included) and the
resource policies (trust, bucket, queue, topic and key policies) of orchard_local.deployed.policies(). Suppressions,
each narrow and with its reason, are in parliament.yaml beside this file, in parliament's override format.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import jsoncfg
from parliament import analyze_policy_string, config, enhance_finding, override_config
from parliament.cli import is_finding_filtered
from parliament.finding import Finding
from parliament.misc import make_list

from orchard_local.deployed import Policy, policies

SUPPRESSIONS = Path(__file__).with_name("parliament.yaml")
MINIMUM_SEVERITY = "LOW"  # parliament's own default


def location_of(policy: Policy) -> str:
    return f"{policy.resource}/{policy.name}"


def statement_at(text: str, line: int | None) -> str:
    """The statement of the policy `text` that starts at or before `line` (the policy itself if none)."""
    if line is None:
        return "(the policy)"
    nodes = make_list(jsoncfg.loads_config(text)["Statement"])  # Statement may be one object or a list
    starts = [(jsoncfg.node_location(node).line, index) for index, node in enumerate(nodes)]
    index = max((index for start, index in starts if start <= line), default=None)
    if index is None:
        return "(the policy)"
    statements = json.loads(text)["Statement"]
    statement = (statements if isinstance(statements, list) else [statements])[index]
    return f"statement {index} {statement.get('Sid', '')}: {json.dumps(statement)}"


def suppressed(finding: Finding) -> bool:
    """Whether one of the finding's ignore_locations (parliament.yaml, in parliament's format: every key's regular
    expression, or one of its list, fully matches the finding's location) matches it. parliament 1.6.4 matches none
    itself: parliament.misc.make_list turns the config's strings and lists into [] (they are no jsoncfg nodes)."""
    def matches(key: str, patterns: str | list[str]) -> bool:
        value = str(finding.location.get(key, ""))
        candidates = [patterns] if isinstance(patterns, str) else patterns
        return any(re.fullmatch(pattern, value, re.IGNORECASE) for pattern in candidates)

    ignored_locations = finding.ignore_locations or []
    return any(all(matches(key, patterns) for key, patterns in ignored.items()) for ignored in ignored_locations)


def findings(policy: Policy) -> Iterator[Finding]:
    """parliament's findings on one policy, past its severity filter and the suppressions."""
    analyzed = analyze_policy_string(json.dumps(policy.document, indent=2), filepath=location_of(policy), config=config)
    for finding in analyzed.findings:
        # parliament 1.6.4 gives every policy-level finding one shared location dict (a mutable default argument
        # of Policy.add_finding): each gets its own here, naming the policy analyzed.
        finding.location = {**finding.location, "filepath": location_of(policy)}
        finding = enhance_finding(finding)
        if not is_finding_filtered(finding, MINIMUM_SEVERITY) and not suppressed(finding):
            yield finding


def main() -> int:
    override_config(str(SUPPRESSIONS))
    found = 0
    for policy in policies():
        text = json.dumps(policy.document, indent=2)
        for finding in findings(policy):
            found += 1
            print(f"{location_of(policy)} ({policy.kind} policy), {statement_at(text, finding.location.get('line'))}\n"
                  f"  {finding.severity} {finding.issue}: {finding.title}. {finding.detail}")
    print(f"parliament: {found} finding(s) in {len(policies())} policies")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
