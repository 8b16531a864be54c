"""Reads template.yaml the way CloudFormation/SAM would, for the local stack: tags, Globals, intrinsics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "eu-west-3"

# What the local stack runs or creates from the template.
HANDLED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Serverless::Function",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::LayerVersion",
}
# What exists only in AWS: monitoring and notification, nothing a handler calls. A type in neither set
# stops the local stack, so that a new kind of resource is a decision, not a silent gap.
IGNORED_TYPES = {
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
}


class Tagged:
    """A CloudFormation short-form intrinsic (!Ref, !Sub, …) kept as data until resolved."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"!{self.tag} {self.value!r}"


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Tagged:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(tag_suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader with intrinsic tags
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a CloudFormation template")
    return data


@dataclass(frozen=True)
class Route:
    method: str  # upper-case, or ANY
    path: str  # as in the template, e.g. /api/invoices/{invoice_id}
    function: str  # logical id
    authorizer: str | None  # logical id of the authorizer function, None for Auth: NONE

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int
    layers: list[Path]
    # EventInvokeConfig of an asynchronously invoked function: Lambda's retries, then the failure queue.
    max_retries: int = 2
    on_failure_queue: str | None = None  # logical id of the AWS::SQS::Queue destination


@dataclass(frozen=True)
class S3Trigger:
    function: str
    bucket: str
    prefix: str
    suffix: str


@dataclass(frozen=True)
class ScheduleTrigger:
    function: str
    name: str
    expression: str
    enabled: bool


@dataclass(frozen=True)
class SqsTrigger:
    """An SQS event source mapping: the local stack polls the queue and invokes the function with batches."""

    function: str
    queue: str  # logical id of the AWS::SQS::Queue
    batch_size: int
    report_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]
    max_concurrency: int  # ScalingConfig.MaximumConcurrency (Lambda's floor, 2, when absent)


@dataclass
class Template:
    """The parts of the SAM template the local stack needs, with intrinsics resolved for a local stack."""

    path: Path
    raw: dict[str, Any]
    parameters: dict[str, str]
    stack_name: str = "local"
    functions: dict[str, Function] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    s3_triggers: list[S3Trigger] = field(default_factory=list)
    schedules: list[ScheduleTrigger] = field(default_factory=list)
    sqs_triggers: list[SqsTrigger] = field(default_factory=list)
    # authorizer function -> the request headers of its identity source (lower-case)
    authorizer_identity: dict[str, list[str]] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        """The resources the stack creates: those whose Condition, if any, holds for these parameters."""
        return {
            k: v
            for k, v in (self.raw.get("Resources") or {}).items()
            if "Condition" not in v or self._condition(str(v["Condition"]))
        }

    def resources_of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == type_name}

    # -- intrinsic functions -------------------------------------------------------------------
    def physical_name(self, logical_id: str) -> str:
        """What !Ref of a resource gives locally: its declared name, or a stable generated one."""
        res = self.resources.get(logical_id)
        if res is None:
            raise KeyError(f"!Ref to unknown resource {logical_id}")
        props = res.get("Properties") or {}
        type_name = res.get("Type", "")
        for name_prop in ("TableName", "BucketName", "FunctionName", "LayerName", "QueueName"):
            if name_prop in props:
                return str(self.resolve(props[name_prop]))
        if type_name == "AWS::DynamoDB::Table":
            return f"{self.stack_name}-{logical_id}"
        if type_name == "AWS::Serverless::LayerVersion":
            return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:layer:{logical_id}:1"
        return f"{self.stack_name}-{logical_id}"

    def pseudo(self, name: str) -> str:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": LOCAL_REGION,
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{self.stack_name}/"
                "00000000-0000-4000-8000-000000000000"
            ),
            "AWS::NoValue": "",
        }[name]

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        type_name = (self.resources.get(name) or {}).get("Type")
        if type_name == "AWS::SQS::Queue":
            return self.queue_url(name)
        if type_name == "AWS::Serverless::Function":
            # As the local workers name themselves (AWS_LAMBDA_FUNCTION_NAME, the context's log group).
            return name
        if type_name == "AWS::SNS::Topic":
            return f"arn:aws:sns:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{self.physical_name(name)}"
        return self.physical_name(name)

    def queue_url(self, logical_id: str) -> str:
        """!Ref of a queue. The local AWS server finds a queue by the URL's last segment, whatever its host."""
        return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def get_att(self, logical_id: str, attr: str) -> str:
        res = self.resources.get(logical_id) or {}
        type_name = res.get("Type", "")
        if attr == "Arn":
            if type_name == "AWS::DynamoDB::Table":
                return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{self.physical_name(logical_id)}"
            if type_name == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{self.physical_name(logical_id)}"
            if type_name == "AWS::Serverless::Function":
                return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{logical_id}"
            if type_name == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{self.physical_name(logical_id)}"
            if type_name == "AWS::CloudWatch::Alarm":
                return f"arn:aws:cloudwatch:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:alarm:{self.physical_name(logical_id)}"
        if type_name == "AWS::SQS::Queue" and attr == "QueueName":
            return self.physical_name(logical_id)
        if type_name == "AWS::SQS::Queue" and attr == "QueueUrl":
            return self.queue_url(logical_id)
        return f"{logical_id}.{attr}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Tagged):
            return self._intrinsic(value.tag, value.value)
        if isinstance(value, dict) and len(value) == 1:
            [(key, inner)] = value.items()
            if key == "Ref":
                return self._intrinsic("Ref", inner)
            if key.startswith("Fn::"):
                return self._intrinsic(key[4:], inner)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _condition(self, name: str) -> bool:
        cond = (self.raw.get("Conditions") or {})[name]
        return bool(self.resolve(cond))

    def _intrinsic(self, tag: str, arg: Any) -> Any:
        if tag == "Ref":
            return self.ref(arg)
        if tag == "GetAtt":
            logical_id, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(logical_id, attr)
        if tag == "Sub":
            if isinstance(arg, list):
                text, extra = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
            else:
                text, extra = arg, {}

            def repl(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in extra:
                    return str(extra[name])
                if "." in name:
                    logical_id, attr = name.split(".", 1)
                    return self.get_att(logical_id, attr)
                return self.ref(name)

            return re.sub(r"\$\{([^!}][^}]*)\}", repl, text)
        if tag == "Join":
            sep, items = arg
            return sep.join(str(self.resolve(i)) for i in self.resolve(items))
        if tag == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if tag == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if tag == "If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self._condition(name) else when_false)
        if tag == "Equals":
            a, b = (self.resolve(x) for x in arg)
            return a == b
        if tag == "Not":
            return not self.resolve(arg[0])
        if tag == "And":
            return all(self.resolve(x) for x in arg)
        if tag == "Or":
            return any(self.resolve(x) for x in arg)
        if tag == "Condition":
            return self._condition(arg)
        raise ValueError(f"intrinsic !{tag} is not supported by the local stack")


def _merge_globals(globals_fn: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(globals_fn)
    for key, value in props.items():
        if key == "Environment" and "Environment" in merged:
            env = dict((merged["Environment"] or {}).get("Variables") or {})
            env.update((value or {}).get("Variables") or {})
            merged["Environment"] = {"Variables": env}
        else:
            merged[key] = value
    return merged


def _sqs_trigger(tpl: Template, function: str, event_name: str, eprops: Mapping[str, Any]) -> SqsTrigger:
    queue_arn = str(tpl.resolve(eprops["Queue"]))
    queues = {tpl.get_att(q, "Arn"): q for q in tpl.resources_of_type("AWS::SQS::Queue")}
    if queue_arn not in queues:
        raise ValueError(f"{function}.{event_name}: the local stack polls only the template's own queues")
    scaling = eprops.get("ScalingConfig") or {}
    return SqsTrigger(
        function=function,
        queue=queues[queue_arn],
        batch_size=int(tpl.resolve(eprops.get("BatchSize", 10))),
        report_failures="ReportBatchItemFailures" in (tpl.resolve(eprops.get("FunctionResponseTypes")) or []),
        max_concurrency=int(tpl.resolve(scaling.get("MaximumConcurrency", 2))),
    )


def load_template(
    path: Path, parameter_overrides: Mapping[str, str] | None = None, stack_name: str = "local"
) -> Template:
    raw = load_yaml(path)
    params: dict[str, str] = {}
    for name, spec in (raw.get("Parameters") or {}).items():
        if "Default" in spec:
            params[name] = str(spec["Default"])
    params.update(parameter_overrides or {})
    tpl = Template(path=path, raw=raw, parameters=params, stack_name=stack_name)
    unknown = {r.get("Type") for r in tpl.resources.values()} - HANDLED_TYPES - IGNORED_TYPES
    if unknown:
        raise ValueError(f"the local stack does not know {sorted(map(str, unknown))}: see infra/cfn.py")
    base = path.parent
    globals_fn = ((raw.get("Globals") or {}).get("Function")) or {}

    apis = tpl.resources_of_type("AWS::Serverless::HttpApi")
    default_authorizer: dict[str, str | None] = {}
    named_authorizers: dict[str, dict[str, str]] = {}
    for api_id, api in apis.items():
        auth = (api.get("Properties") or {}).get("Auth") or {}
        named: dict[str, str] = {}
        for auth_name, spec in (auth.get("Authorizers") or {}).items():
            arn = spec.get("FunctionArn")
            if arn is None:
                continue
            if isinstance(arn, Tagged) and arn.tag == "GetAtt":
                target = arn.value.split(".")[0] if isinstance(arn.value, str) else arn.value[0]
            elif isinstance(arn, dict) and "Fn::GetAtt" in arn:
                v = arn["Fn::GetAtt"]
                target = v.split(".")[0] if isinstance(v, str) else v[0]
            else:
                raise ValueError(f"authorizer {auth_name}: FunctionArn must be !GetAtt <Function>.Arn")
            named[auth_name] = target
            identity = spec.get("Identity") or {}
            tpl.authorizer_identity[target] = [str(h).lower() for h in identity.get("Headers") or []]
        named_authorizers[api_id] = named
        default_name = auth.get("DefaultAuthorizer")
        default_authorizer[api_id] = named.get(default_name) if default_name else None

    layer_dirs = {
        lid: (base / str((res.get("Properties") or {}).get("ContentUri", "."))).resolve()
        for lid, res in tpl.resources_of_type("AWS::Serverless::LayerVersion").items()
    }

    for logical_id, res in tpl.resources_of_type("AWS::Serverless::Function").items():
        props = _merge_globals(globals_fn, res.get("Properties") or {})
        env = {k: str(tpl.resolve(v)) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        layers = []
        for layer in props.get("Layers") or []:
            if isinstance(layer, Tagged) and layer.tag == "Ref" and layer.value in layer_dirs:
                layers.append(layer_dirs[layer.value])
        invoke_config = props.get("EventInvokeConfig") or {}
        on_failure = tpl.resolve((invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {})
        failure_queue = None
        if on_failure:
            queues = {tpl.get_att(q, "Arn"): q for q in tpl.resources_of_type("AWS::SQS::Queue")}
            if on_failure.get("Type") != "SQS" or on_failure.get("Destination") not in queues:
                raise ValueError(f"{logical_id}: the local stack sends failed events only to the template's queues")
            failure_queue = queues[on_failure["Destination"]]
        tpl.functions[logical_id] = Function(
            logical_id=logical_id,
            code_uri=(base / str(props.get("CodeUri", "."))).resolve(),
            handler=str(props.get("Handler", "app.handler")),
            environment=env,
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            layers=layers,
            max_retries=int(tpl.resolve(invoke_config.get("MaximumRetryAttempts", 2))),
            on_failure_queue=failure_queue,
        )
        for event_name, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            if etype == "HttpApi":
                api_ref = eprops.get("ApiId")
                api_id = str(api_ref.value) if isinstance(api_ref, Tagged) else next(iter(apis), "")
                auth = (eprops.get("Auth") or {}).get("Authorizer")
                authorizer: str | None
                if auth == "NONE":
                    authorizer = None
                elif auth:
                    authorizer = named_authorizers.get(str(api_id), {})[auth]
                else:
                    authorizer = default_authorizer.get(str(api_id))
                tpl.routes.append(
                    Route(
                        method=str(eprops.get("Method", "ANY")).upper(),
                        path=str(eprops.get("Path", "$default")),
                        function=logical_id,
                        authorizer=authorizer,
                    )
                )
            elif etype == "S3":
                bucket_ref = eprops["Bucket"]
                bucket = tpl.resolve(bucket_ref)
                prefix = suffix = ""
                for rule in ((eprops.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
                    if str(rule.get("Name")).lower() == "prefix":
                        prefix = str(rule.get("Value"))
                    elif str(rule.get("Name")).lower() == "suffix":
                        suffix = str(rule.get("Value"))
                tpl.s3_triggers.append(S3Trigger(logical_id, str(bucket), prefix, suffix))
            elif etype == "SQS":
                tpl.sqs_triggers.append(_sqs_trigger(tpl, logical_id, event_name, eprops))
            elif etype == "Schedule":
                tpl.schedules.append(
                    ScheduleTrigger(
                        function=logical_id,
                        name=event_name,
                        expression=str(tpl.resolve(eprops["Schedule"])),
                        enabled=bool(tpl.resolve(eprops.get("Enabled", True))),
                    )
                )
    return tpl
