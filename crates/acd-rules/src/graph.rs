//! Whole-ruleset checks that need a graph (petgraph): transfer cycles between queues, routes
//! that can never end (no agent can take the call and nothing overflows), plus the
//! order-dependent lints: steps that can never run and routes shadowed by earlier ones.

use crate::diag::{Diag, Loc};
use crate::model::{RouteDef, RulesDef, S};
use crate::skill_expr::format_skill_expr;
use crate::target::format_target;
use acd_core::{Condition, Pattern, QueueId, RoutingConfig, SkillExpr, Target};
use petgraph::algo::{has_path_connecting, tarjan_scc};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, VecDeque};

/// Runs every graph check and lint, appending findings to `diags`.
pub fn check(
    def: &RulesDef,
    cfg: &RoutingConfig,
    diags: &mut Vec<Diag>,
    position: &dyn Fn(&Loc) -> String,
) {
    transfer_cycles(def, diags, position);
    terminals(def, cfg, diags);
    unreachable_steps(def, diags);
    shadowed_routes(def, diags, position);
}

/// The queues a route applies to: its `queue` condition, or every queue.
fn route_queues<'a>(route: &'a RouteDef, def: &'a RulesDef) -> Vec<&'a str> {
    if route.queue_refs.is_empty() {
        def.queues.iter().map(|q| q.name.value.as_str()).collect()
    } else {
        route
            .queue_refs
            .iter()
            .map(|q| q.value.as_str())
            .filter(|q| def.queues.iter().any(|d| d.name.value == *q))
            .collect()
    }
}

struct Edge {
    why: String,
    loc: Loc,
}

fn transfer_cycles(def: &RulesDef, diags: &mut Vec<Diag>, position: &dyn Fn(&Loc) -> String) {
    let mut graph: DiGraph<&str, Edge> = DiGraph::new();
    let nodes: BTreeMap<&str, NodeIndex> = def
        .queues
        .iter()
        .map(|q| (q.name.value.as_str(), graph.add_node(q.name.value.as_str())))
        .collect();
    let mut add = |from: &str, target: &S<Target>, why: String| {
        if let Target::Queue(QueueId(to)) = &target.value {
            if let (Some(&a), Some(&b)) = (nodes.get(from), nodes.get(to.as_str())) {
                graph.add_edge(
                    a,
                    b,
                    Edge {
                        why,
                        loc: target.loc.clone(),
                    },
                );
            }
        }
    };
    for q in &def.queues {
        let name = q.name.value.as_str();
        if let Some((n, t)) = &q.max_waiting {
            add(name, t, format!("when more than {n} calls wait"));
        }
        if let Some(t) = &q.when_no_agents {
            add(name, t, "when no agent is logged in".into());
        }
        if let Some(c) = &q.calendar {
            add(name, &c.night, "outside opening hours".into());
        }
    }
    for r in &def.routes {
        for q in route_queues(r, def) {
            for st in &r.steps {
                if let Some(t) = &st.overflow {
                    add(
                        q,
                        t,
                        format!(
                            "route \"{}\" overflows after {}",
                            r.name.value,
                            ms_text(st.after.value)
                        ),
                    );
                }
            }
        }
    }
    for scc in tarjan_scc(&graph) {
        let Some(&start) = scc.iter().min_by_key(|n| graph[**n]) else {
            continue;
        };
        let in_scc = |n: NodeIndex| scc.contains(&n);
        // Breadth-first from `start` inside the component until an edge leads back to it:
        // the shortest transfer loop through `start`.
        let mut parent: BTreeMap<NodeIndex, petgraph::graph::EdgeIndex> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(n) = queue.pop_front() {
            for e in graph.edges(n) {
                if e.target() == start {
                    closing = Some(e.id());
                    break 'search;
                }
                if in_scc(e.target()) && !parent.contains_key(&e.target()) {
                    parent.insert(e.target(), e.id());
                    queue.push_back(e.target());
                }
            }
        }
        let Some(closing) = closing else { continue };
        let mut path = vec![closing];
        let mut at = graph.edge_endpoints(closing).map(|(a, _)| a);
        while let Some(n) = at.filter(|n| *n != start) {
            let Some(&e) = parent.get(&n) else { break };
            path.push(e);
            at = graph.edge_endpoints(e).map(|(a, _)| a);
        }
        path.reverse();
        let mut text = graph[start].to_string();
        for &e in &path {
            if let Some((_, b)) = graph.edge_endpoints(e) {
                text.push_str(&format!(
                    "\n  → {} ({}, {})",
                    graph[b],
                    graph[e].why,
                    position(&graph[e].loc)
                ));
            }
        }
        let first = &graph[path[0]];
        diags.push(
            Diag::error(
                "rules::transfer-cycle",
                format!(
                    "calls can be transferred in a circle: {}",
                    std::iter::once(graph[start])
                        .chain(
                            path.iter()
                                .filter_map(|e| graph.edge_endpoints(*e).map(|(_, b)| graph[b]))
                        )
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            )
            .at(&first.loc, "this transfer starts the circle")
            .help(format!(
                "a call could bounce between these queues forever:\n{text}\n\
                 end one of them at voicemail or an external number instead"
            )),
        );
    }
}

fn ms_text(ms: u64) -> String {
    if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// Agents that may take calls of queue `q` (listed ones, or every agent when none is listed).
fn pool<'a>(cfg: &'a RoutingConfig, q: &str) -> Vec<&'a acd_core::AgentProfile> {
    match cfg.queues.get(&QueueId(q.to_string())) {
        Some(policy) if !policy.agents.is_empty() => policy
            .agents
            .iter()
            .filter_map(|a| cfg.agents.get(a))
            .collect(),
        _ => cfg.agents.values().collect(),
    }
}

fn only_queue_conditions(route: &RouteDef) -> bool {
    route
        .conditions
        .iter()
        .all(|c| matches!(c, Condition::Queue(_)))
}

/// Every route must be able to end: an agent of its queue can satisfy its skills at some
/// step, or a step overflows to something that ends.
fn terminals(def: &RulesDef, cfg: &RoutingConfig, diags: &mut Vec<Diag>) {
    #[derive(Debug)]
    enum Node {
        Terminal,
        Queue,
        RouteIn,
    }
    let mut graph: DiGraph<Node, ()> = DiGraph::new();
    let terminal = graph.add_node(Node::Terminal);
    let queue_nodes: BTreeMap<&str, NodeIndex> = def
        .queues
        .iter()
        .map(|q| (q.name.value.as_str(), graph.add_node(Node::Queue)))
        .collect();
    // (route index, queue, node, requirement stages that no agent of the queue satisfies)
    let mut route_nodes = Vec::new();
    for (i, r) in def.routes.iter().enumerate() {
        let mut stages: Vec<&SkillExpr> = vec![&r.requires];
        stages.extend(
            r.steps
                .iter()
                .filter_map(|s| s.require.as_ref().map(|(e, _)| e)),
        );
        for q in route_queues(r, def) {
            let node = graph.add_node(Node::RouteIn);
            if let Some(&qn) = queue_nodes.get(q) {
                graph.add_edge(qn, node, ());
            }
            let agents = pool(cfg, q);
            let servable = stages.iter().any(|e| {
                agents
                    .iter()
                    .any(|a| acd_core::skill::matches(e, &a.skills))
            });
            if servable {
                graph.add_edge(node, terminal, ());
            }
            for st in &r.steps {
                match st.overflow.as_ref().map(|t| &t.value) {
                    Some(Target::Queue(QueueId(to))) => {
                        if let Some(&qn) = queue_nodes.get(to.as_str()) {
                            graph.add_edge(node, qn, ());
                        }
                    }
                    Some(_) => {
                        graph.add_edge(node, terminal, ());
                    }
                    None => {}
                }
            }
            route_nodes.push((i, q, node, stages.clone()));
        }
    }
    // A call that matches no route is offered to any agent of its queue.
    for q in &def.queues {
        let name = q.name.value.as_str();
        let always_routed = def.routes.iter().any(|r| {
            only_queue_conditions(r)
                && (r.queue_refs.is_empty() || r.queue_refs.iter().any(|x| x.value == name))
        });
        if !always_routed && !pool(cfg, name).is_empty() {
            if let Some(&qn) = queue_nodes.get(name) {
                graph.add_edge(qn, terminal, ());
            }
        }
    }
    let mut stuck: BTreeMap<usize, Vec<(&str, Vec<&SkillExpr>)>> = BTreeMap::new();
    for (i, q, node, stages) in route_nodes {
        if !has_path_connecting(&graph, node, terminal, None) {
            stuck.entry(i).or_default().push((q, stages));
        }
    }
    for (i, queues) in stuck {
        let r = &def.routes[i];
        let names: Vec<&str> = queues.iter().map(|(q, _)| *q).collect();
        let needs: Vec<String> = queues[0]
            .1
            .iter()
            .map(|e| format!("`{}`", format_skill_expr(e)))
            .collect();
        diags.push(
            Diag::error(
                "rules::no-terminal",
                format!(
                    "calls on route \"{}\" can wait forever in {}",
                    r.name.value,
                    names.join(", ")
                ),
            )
            .at(&r.name.loc, "this route never ends")
            .help(format!(
                "no agent of {} has {} and no step overflows to a queue, voicemail or an \
                 allowed external number; add a qualified agent, widen the requirement in a \
                 step, or add an overflow step",
                names.join(", "),
                needs.join(" or ")
            )),
        );
    }
}

fn unreachable_steps(def: &RulesDef, diags: &mut Vec<Diag>) {
    for r in &def.routes {
        let Some(first_overflow) = r.steps.iter().position(|s| s.overflow.is_some()) else {
            continue;
        };
        let at = r.steps[first_overflow].after.value;
        for st in &r.steps[first_overflow + 1..] {
            diags.push(
                Diag::warning(
                    "rules::unreachable-step",
                    format!("this step of route \"{}\" never runs", r.name.value),
                )
                .at(&st.loc, "never runs")
                .help(format!(
                    "the call has already left the queue by overflowing after {}; \
                     move this step before the overflow or remove it",
                    ms_text(at)
                )),
            );
        }
    }
}

/// Does every text matched by `b` also match `a`? Conservative: only equal patterns, `*`, and
/// literal-prefix-then-`*` are understood.
fn pattern_covers(a: &Pattern, b: &Pattern) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    if a == b || a == "*" {
        return true;
    }
    match a.strip_suffix('*') {
        Some(prefix) if !prefix.contains(['*', '?']) => b.starts_with(prefix),
        _ => false,
    }
}

fn subset<T: PartialEq>(b: &[T], a: &[T]) -> bool {
    b.iter().all(|x| a.contains(x))
}

/// Does condition `a` hold for every call that `b` lets through?
fn condition_covers(a: &Condition, b: &Condition) -> bool {
    let pats =
        |a: &[Pattern], b: &[Pattern]| b.iter().all(|pb| a.iter().any(|pa| pattern_covers(pa, pb)));
    match (a, b) {
        (Condition::Queue(a), Condition::Queue(b)) => subset(b, a),
        (Condition::Did(a), Condition::Did(b))
        | (Condition::CallingNumber(a), Condition::CallingNumber(b))
        | (Condition::Tag(a), Condition::Tag(b)) => pats(a, b),
        (Condition::Language(a), Condition::Language(b)) => subset(b, a),
        (Condition::Trunk(a), Condition::Trunk(b)) => subset(b, a),
        (
            Condition::TimeOfDay {
                from_minute: af,
                to_minute: at,
            },
            Condition::TimeOfDay {
                from_minute: bf,
                to_minute: bt,
            },
        ) => af <= bf && bt <= at,
        _ => false,
    }
}

/// Route `earlier` catches every call `later` would: each of its conditions is at least as
/// wide as the same-kind condition of `later`.
fn route_covers(earlier: &RouteDef, later: &RouteDef) -> bool {
    earlier.conditions.iter().all(|a| {
        later.conditions.iter().any(|b| {
            std::mem::discriminant(a) == std::mem::discriminant(b) && condition_covers(a, b)
        })
    })
}

fn shadowed_routes(def: &RulesDef, diags: &mut Vec<Diag>, position: &dyn Fn(&Loc) -> String) {
    for (j, later) in def.routes.iter().enumerate() {
        if let Some(earlier) = def.routes[..j].iter().find(|e| route_covers(e, later)) {
            diags.push(
                Diag::warning(
                    "rules::shadowed-route",
                    format!("route \"{}\" never applies", later.name.value),
                )
                .at(&later.name.loc, "shadowed")
                .help(format!(
                    "route \"{}\" at {} comes first and matches every call this one matches \
                     (the first matching route wins); move the more specific route above it",
                    earlier.name.value,
                    position(&earlier.name.loc)
                )),
            );
        }
    }
}

/// Exposed for explain: the target of a step as a supervisor wrote it.
pub fn describe_target(t: &Target) -> String {
    format_target(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_coverage_is_conservative() {
        let p = Pattern::new;
        assert!(pattern_covers(&p("*"), &p("+49*")));
        assert!(pattern_covers(&p("+49*"), &p("+4930*")));
        assert!(pattern_covers(&p("+49*"), &p("+49301234")));
        assert!(!pattern_covers(&p("+4930*"), &p("+49*")));
        assert!(!pattern_covers(&p("+49?0*"), &p("+4930*")));
    }

    #[test]
    fn time_and_sets() {
        let t = |f, to| Condition::TimeOfDay {
            from_minute: f,
            to_minute: to,
        };
        assert!(condition_covers(&t(0, 600), &t(60, 120)));
        assert!(!condition_covers(&t(60, 120), &t(0, 600)));
        let l = |v: &[&str]| Condition::Language(v.iter().map(|s| s.to_string()).collect());
        assert!(condition_covers(&l(&["deu", "eng"]), &l(&["deu"])));
        assert!(!condition_covers(&l(&["deu"]), &l(&["deu", "eng"])));
    }
}
