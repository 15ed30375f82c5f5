"""Patches to moto 5.2.5, loaded only by scripts/moto-server.py (tests and the quick start).

Each patch fixes a place where moto differs from AWS in a way that breaks a correct client; the
controller is written for AWS and is never bent to a moto bug. Keep each patch small, name the
bug (see ../shared/design/MOTO-NOTES.md), and make it a no-op if moto already behaves.
"""

PATCHES = []


def patch(fn):
    PATCHES.append(fn)
    return fn


def apply():
    for fn in PATCHES:
        fn()


# --- ELB (classic): kind LoadBalancer -------------------------------------------------------


@patch
def elb_attributes_of_a_missing_load_balancer_are_not_found():
    """MOTO-NOTES bug 1: DescribeLoadBalancerAttributes (and ModifyLoadBalancerAttributes) on a
    load balancer that does not exist fail with HTTP 500 (AttributeError on None) instead of
    400 LoadBalancerNotFound. A no-op when moto already answers LoadBalancerNotFound."""
    from moto.elb.exceptions import LoadBalancerNotFoundError
    from moto.elb.responses import ELBResponse

    def guarded(original):
        def handler(self):
            name = self._get_param("LoadBalancerName")
            if self.elb_backend.get_load_balancer(name) is None:
                raise LoadBalancerNotFoundError(name)
            return original(self)

        return handler

    for op in ("describe_load_balancer_attributes", "modify_load_balancer_attributes"):
        setattr(ELBResponse, op, guarded(getattr(ELBResponse, op)))


@patch
def elb_new_load_balancer_has_the_default_health_check():
    """MOTO-NOTES bug 3: CreateLoadBalancer leaves HealthCheck unset, so DescribeLoadBalancers
    omits it until ConfigureHealthCheck; AWS gives every new load balancer the default check
    TCP:80, interval 30 s, timeout 5 s, unhealthy threshold 2, healthy threshold 10. A no-op
    when moto already sets one."""
    from moto.elb.models import ELBBackend, FakeHealthCheck

    original = ELBBackend.create_load_balancer

    def create_load_balancer(self, *args, **kwargs):
        lb = original(self, *args, **kwargs)
        if getattr(lb, "health_check", None) is None:
            lb.health_check = FakeHealthCheck(
                timeout=5,
                healthy_threshold=10,
                unhealthy_threshold=2,
                interval=30,
                target="TCP:80",
            )
        return lb

    ELBBackend.create_load_balancer = create_load_balancer


@patch
def elb_listeners_keep_their_instance_protocol():
    """MOTO-NOTES bug 4: a listener's InstanceProtocol is ignored and read back equal to its
    Protocol (FakeListener.instance_protocol is a property returning .protocol), so an
    HTTPS:443 -> HTTP:80 listener reads back as HTTPS -> HTTPS. Store the InstanceProtocol sent
    by CreateLoadBalancer / CreateLoadBalancerListeners (AWS's fallback when it is omitted stays
    moto's: the front-end protocol). A no-op when moto stores it itself."""
    from moto.elb import models

    listener_cls = models.FakeListener
    if not isinstance(listener_cls.__dict__.get("instance_protocol"), property):
        return

    def get(self):
        return getattr(self, "_converge_instance_protocol", None) or self.protocol

    def set_(self, value):
        self._converge_instance_protocol = value.upper() if value else None

    listener_cls.instance_protocol = property(get, set_)

    def sent_instance_protocol(port):
        return port.get("InstanceProtocol") or port.get("instance_protocol")

    def sent_port(port):
        return port.get("LoadBalancerPort") or port.get("load_balancer_port")

    lb_init = models.LoadBalancer.__init__

    def init(self, *args, **kwargs):
        lb_init(self, *args, **kwargs)
        ports = kwargs["ports"] if "ports" in kwargs else args[3]
        for listener, port in zip(self.listeners, ports):
            listener.instance_protocol = sent_instance_protocol(port)

    models.LoadBalancer.__init__ = init

    create_listeners = models.ELBBackend.create_load_balancer_listeners

    def create_load_balancer_listeners(self, name, ports):
        balancer = self.load_balancers.get(name)
        before = {id(x) for x in balancer.listeners} if balancer else set()
        balancer = create_listeners(self, name, ports)
        for listener in balancer.listeners if balancer else []:
            if id(listener) in before:
                continue
            for port in ports:
                if int(sent_port(port)) == int(listener.load_balancer_port):
                    listener.instance_protocol = sent_instance_protocol(port)
        return balancer

    models.ELBBackend.create_load_balancer_listeners = create_load_balancer_listeners


@patch
def elb_delete_listeners_deletes_every_port_given():
    """DeleteLoadBalancerListeners with more than one port deletes none of them (moto rebuilds
    the listener list once per port, keeping every listener that differs from that one port, so
    each listener survives and others are duplicated); on a missing load balancer it fails with
    HTTP 500 instead of LoadBalancerNotFound. Probed first: a no-op when moto deletes correctly."""
    from types import SimpleNamespace

    from moto.elb.exceptions import LoadBalancerNotFoundError
    from moto.elb.models import ELBBackend

    original = ELBBackend.delete_load_balancer_listeners
    probe_lb = SimpleNamespace(
        listeners=[SimpleNamespace(load_balancer_port=p) for p in (80, 443, 8080)]
    )
    probe = SimpleNamespace(get_load_balancer=lambda _name: probe_lb)
    try:
        original(probe, "probe", [80, 443])
        if [x.load_balancer_port for x in probe_lb.listeners] == [8080]:
            return
    except Exception:  # noqa: BLE001 - a moto that changed shape: patch it
        pass

    def delete_load_balancer_listeners(self, name, ports):
        balancer = self.get_load_balancer(name)
        if balancer is None:
            raise LoadBalancerNotFoundError(name)
        gone = {int(p) for p in ports}
        balancer.listeners = [
            x for x in balancer.listeners if int(x.load_balancer_port) not in gone
        ]
        return balancer

    ELBBackend.delete_load_balancer_listeners = delete_load_balancer_listeners


@patch
def elb_descriptions_carry_the_canonical_hosted_zone_id():
    """DescribeLoadBalancers omits CanonicalHostedZoneNameID (moto's LoadBalancer has no such
    attribute); AWS always returns the hosted zone of the region's classic ELB endpoints, which a
    Route 53 alias record to the load balancer needs. moto names every load balancer
    `<name>.us-east-1.elb.amazonaws.com`, so answer us-east-1's zone, Z35SXDOTRQ7X7K. A no-op
    when moto has the attribute."""
    from moto.elb.models import LoadBalancer

    if hasattr(LoadBalancer, "canonical_hosted_zone_name_id"):
        return
    LoadBalancer.canonical_hosted_zone_name_id = property(lambda self: "Z35SXDOTRQ7X7K")


@patch
def autoscaling_policies_per_group():
    """Auto Scaling keys a scaling policy by group *and* name; moto 5.2.5 keys it by name alone, so
    two groups' policies of the same name (the reference stack's ScaleUp / ScaleDown in every group)
    overwrite each other, DeletePolicy and ExecutePolicy ignore AutoScalingGroupName, and
    DeleteAutoScalingGroup leaves the group's policies behind (AWS deletes them with the group)."""
    from moto.autoscaling import models, responses
    from moto.core.responses import EmptyResult

    backend = models.AutoScalingBackend
    if getattr(backend, "_converge_policies_per_group", False):
        return
    backend._converge_policies_per_group = True
    put = backend.put_scaling_policy
    delete_group = backend.delete_auto_scaling_group

    def matching(self, group, name):
        return [
            k
            for k, p in self.policies.items()
            if (p.name == name or p.arn == name)
            and (not group or p.auto_scaling_group_name == group)
        ]

    def put_scaling_policy(self, *args, **kwargs):
        policy = put(self, *args, **kwargs)
        self.policies.pop(policy.name, None)
        self.policies[(policy.auto_scaling_group_name, policy.name)] = policy
        return policy

    def delete_auto_scaling_group(self, group_name):
        delete_group(self, group_name)
        for k in [k for k, p in self.policies.items() if p.auto_scaling_group_name == group_name]:
            self.policies.pop(k, None)

    def delete_policy(self):
        b = self.autoscaling_backend
        group = self._get_param("AutoScalingGroupName")
        for k in matching(b, group, self._get_param("PolicyName")):
            b.policies.pop(k, None)
        return EmptyResult()

    def execute_policy(self):
        b = self.autoscaling_backend
        group = self._get_param("AutoScalingGroupName")
        for k in matching(b, group, self._get_param("PolicyName"))[:1]:
            b.policies[k].execute()
        return EmptyResult()

    backend.put_scaling_policy = put_scaling_policy
    backend.delete_auto_scaling_group = delete_auto_scaling_group
    responses.AutoScalingResponse.delete_policy = delete_policy
    responses.AutoScalingResponse.execute_policy = execute_policy


@patch
def autoscaling_update_cooldown_and_termination_policies():
    """moto 5.2.5's UpdateAutoScalingGroup ignores DefaultCooldown and TerminationPolicies (its own
    docstring says "not yet implemented"); AWS applies them."""
    from moto.autoscaling import responses

    cls = responses.AutoScalingResponse
    if getattr(cls, "_converge_update_all_fields", False):
        return
    cls._converge_update_all_fields = True
    update = cls.update_auto_scaling_group

    def update_auto_scaling_group(self):
        result = update(self)
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        cooldown = self._get_int_param("DefaultCooldown")
        if cooldown is not None:
            group.default_cooldown = cooldown
        policies = self._get_param("TerminationPolicies", [])
        if policies:
            group.termination_policies = policies
        return result

    cls.update_auto_scaling_group = update_auto_scaling_group


# --- The HTTP server ------------------------------------------------------------------------


@patch
def http_answers_without_nagle_delay():
    """Not a moto bug but werkzeug's: its request handler writes an answer's headers and body in
    two sends without TCP_NODELAY, so on a kept-alive connection the body waits for the client's
    delayed ACK (40 ms on Linux) — an emulator artefact that would stretch every dependent chain
    of calls converge makes (AWS's endpoints do not wait so)."""
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.disable_nagle_algorithm = True


# --- EC2: tags --------------------------------------------------------------------------------


@patch
def ec2_resource_tags_are_looked_up_not_scanned():
    """moto 5.2.5 finds one EC2 resource's tags by scanning every tag of the region with a
    regular expression per resource (`describe_tags(filters={"resource-id": [id]})`): a
    `DescribeSecurityGroups` of 3,000 groups then takes minutes (quadratic), and converge's
    calls time out at fleet scale. The tags are already stored by resource id: look them up,
    with the same result (same fields, same order)."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.tags import EC2_PREFIX_TO_RESOURCE
    from moto.ec2.utils import get_prefix

    def get_tags(self):
        resource_id = getattr(self, "id", None)
        if not resource_id:
            return []
        tags = self.ec2_backend.tags.get(resource_id, {})
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": k, "value": v, "resource_type": kind}
            for k, v in list(tags.items())
        ]

    TaggedEC2Resource.get_tags = get_tags
