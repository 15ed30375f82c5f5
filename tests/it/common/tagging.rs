//! The check that tags in pages (the Resource Groups Tagging API) never decide alone for a
//! resource the pages do not show yet, shared by the kinds that use them (Queue, MetricAlarm).

use super::faults::{Fault, FaultProxy, Rule};
use super::{unique, Desired, Running};

/// What a kind's check needs: its service as the fault proxy names it, its own per-resource
/// tag read, the call that writes one resource and the one that re-tags it.
pub struct TaggedKind {
    pub kind: &'static str,
    pub service: &'static str,
    pub read_tags: &'static str,
    pub write: &'static str,
    pub tag: &'static str,
}

/// `d` desires exactly two resources of `k`, and the Tagging API is made never to show the one
/// named `hidden` (as just after its creation, for as long as the API lags): over three 1 s
/// resyncs its tags are read one by one, each resource is written once, never re-tagged, with
/// no drift and no conflict; once the API shows it, no per-resource tag read remains.
pub fn a_resource_the_pages_do_not_show_is_read_not_rewritten(
    d: &Desired,
    endpoint: &str,
    hidden: &str,
    k: &TaggedKind,
) {
    let proxy = FaultProxy::start(endpoint);
    proxy.set_rules(vec![Rule::new(
        Fault::HideFromTagging(hidden.to_string()),
        1.0,
    )
    .operation("GetResources")]);
    let run = Running::start_with(
        &d.path_str(),
        &proxy.endpoint,
        &[],
        &["--resync", "1s", "--controller-id", &unique("ctl")],
    );
    let converged = format!(
        "converge_resources{{kind=\"{}\",state=\"converged\"}}",
        k.kind
    );
    run.wait_for("both converged", 20, |r| r.metric(&converged) == 2.0);
    let tags_read = proxy.forwarded(k.service, k.read_tags);
    run.wait_sweeps(k.kind, 3.0, 20);
    assert!(
        proxy.forwarded("tagging", "GetResources") >= 3,
        "tags come in pages"
    );
    assert!(
        proxy.forwarded(k.service, k.read_tags) >= tags_read + 3,
        "the hidden resource's tags are read one by one"
    );
    assert_eq!(proxy.forwarded(k.service, k.write), 2, "written once each");
    assert_eq!(proxy.forwarded(k.service, k.tag), 0, "never re-tagged");
    assert_eq!(
        run.metric(&format!(
            "converge_drift_detected_total{{kind=\"{}\"}}",
            k.kind
        )),
        0.0
    );
    assert_eq!(
        run.metric(&format!(
            "converge_reconcile_errors_total{{kind=\"{}\",class=\"conflict\"}}",
            k.kind
        )),
        0.0
    );
    // Once the API shows it, no resource's tags are read one by one any more.
    proxy.clear();
    run.wait_sweeps(k.kind, 2.0, 20);
    let settled = proxy.forwarded(k.service, k.read_tags);
    run.wait_sweeps(k.kind, 2.0, 20);
    assert_eq!(proxy.forwarded(k.service, k.read_tags), settled);
}
