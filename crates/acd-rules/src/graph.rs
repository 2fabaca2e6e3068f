//! Whole-ruleset checks that need a graph (petgraph): transfer cycles between queues, routes
//! that can never end (no agent can take the call and nothing overflows), plus the
//! order-dependent lints: steps that can never run and routes shadowed by earlier ones.

use crate::cost;
use crate::diag::{Diag, Loc};
use crate::model::{RouteDef, RulesDef, S};
use crate::skill_expr::format_skill_expr;
use crate::target::format_target;
use acd_core::{Condition, NumberPlan, Pattern, QueueId, RoutingConfig, SkillExpr, Target};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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
fn route_queues<'a>(route: &'a RouteDef, def: &'a RulesDef, known: &HashSet<&str>) -> Vec<&'a str> {
    if route.queue_refs.is_empty() {
        cost::charge(def.queues.len());
        def.queues.iter().map(|q| q.name.value.as_str()).collect()
    } else {
        cost::charge(route.queue_refs.len());
        route
            .queue_refs
            .iter()
            .map(|q| q.value.as_str())
            .filter(|q| known.contains(q))
            .collect()
    }
}

fn queue_set(def: &RulesDef) -> HashSet<&str> {
    def.queues.iter().map(|q| q.name.value.as_str()).collect()
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
        if let Some(t) = &q.when_no_qualified {
            add(name, t, "when no qualified agent is logged in".into());
        }
        if let Some(c) = &q.calendar {
            add(name, &c.night, "outside opening hours".into());
            if let Some(t) = &c.holiday {
                add(name, t, "on holidays".into());
            }
        }
    }
    let known = queue_set(def);
    for r in &def.routes {
        for q in route_queues(r, def, &known) {
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
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let in_scc = |n: NodeIndex| members.contains(&n);
        // Breadth-first from `start` inside the component until an edge leads back to it:
        // the shortest transfer loop through `start`.
        let mut parent: BTreeMap<NodeIndex, petgraph::graph::EdgeIndex> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(n) = queue.pop_front() {
            for e in graph.edges(n) {
                cost::charge(1);
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

/// Which agents can meet a skill requirement, answered from an index by skill so that a
/// route is matched against the few agents holding a skill it needs, not every agent.
struct Servability<'a> {
    cfg: &'a RoutingConfig,
    /// Agents holding each skill (at any level).
    by_skill: HashMap<&'a str, Vec<&'a acd_core::AgentProfile>>,
    /// Listed agents of each queue that lists some (others take calls from every agent).
    listed: HashMap<&'a str, HashSet<&'a acd_core::AgentId>>,
}

impl<'a> Servability<'a> {
    fn new(cfg: &'a RoutingConfig) -> Self {
        let mut by_skill: HashMap<&str, Vec<&acd_core::AgentProfile>> = HashMap::new();
        for agent in cfg.agents.values() {
            for skill in agent.skills.keys() {
                cost::charge(1);
                by_skill.entry(skill.as_str()).or_default().push(agent);
            }
        }
        let listed = cfg
            .queues
            .iter()
            .filter(|(_, p)| !p.agents.is_empty())
            .map(|(q, p)| {
                let all = p.agents.iter().chain(&p.backup_agents).chain(&p.helpers);
                (q.0.as_str(), all.collect())
            })
            .collect();
        Servability {
            cfg,
            by_skill,
            listed,
        }
    }

    /// Whether queue `q` has any agent at all.
    fn has_agents(&self, q: &str) -> bool {
        match self.listed.get(q) {
            Some(listed) => listed.iter().any(|a| self.cfg.agents.contains_key(*a)),
            None => !self.cfg.agents.is_empty(),
        }
    }

    /// A skill every agent meeting `expr` must hold, choosing the rarest when there are several.
    fn necessary_skill<'e>(&self, expr: &'e SkillExpr) -> Option<&'e str> {
        match expr {
            SkillExpr::Skill { name, .. } => Some(name.as_str()),
            SkillExpr::And(terms) => terms
                .iter()
                .filter_map(|t| self.necessary_skill(t))
                .min_by_key(|s| self.by_skill.get(s).map_or(0, Vec::len)),
            _ => None,
        }
    }

    /// Whether some agent of queue `q` meets `expr`.
    fn servable(&self, q: &str, expr: &SkillExpr) -> bool {
        let listed = self.listed.get(q);
        let in_pool = |a: &acd_core::AgentProfile| listed.is_none_or(|l| l.contains(&a.agent));
        let check = |a: &&acd_core::AgentProfile| {
            cost::charge(1);
            in_pool(a) && acd_core::skill::matches(expr, &a.skills)
        };
        match self.necessary_skill(expr) {
            Some(skill) => self
                .by_skill
                .get(skill)
                .is_some_and(|holders| holders.iter().any(check)),
            // Without a skill to narrow by (OR, NOT, any), scan the pool.
            None => match listed {
                Some(l) => l
                    .iter()
                    .filter_map(|a| self.cfg.agents.get(*a))
                    .any(|a| check(&a)),
                None => self.cfg.agents.values().any(|a| check(&a)),
            },
        }
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
    let known = queue_set(def);
    let agents = Servability::new(cfg);
    // (route index, queue, node)
    let mut route_nodes = Vec::new();
    for (i, r) in def.routes.iter().enumerate() {
        let stages = route_stages(r);
        for q in route_queues(r, def, &known) {
            let node = graph.add_node(Node::RouteIn);
            if let Some(&qn) = queue_nodes.get(q) {
                graph.add_edge(qn, node, ());
            }
            if stages.iter().any(|e| agents.servable(q, e)) {
                graph.add_edge(node, terminal, ());
            }
            // Only an overflow that always fires is a way out; one with `when` may not.
            for st in r.steps.iter().filter(|st| st.when.is_empty()) {
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
            route_nodes.push((i, q, node));
        }
    }
    // A call that matches no route is offered to any agent of its queue, unless a route with
    // only queue conditions catches every call of the queue.
    let catch_all = def
        .routes
        .iter()
        .any(|r| only_queue_conditions(r) && r.queue_refs.is_empty());
    let caught: HashSet<&str> = def
        .routes
        .iter()
        .filter(|r| only_queue_conditions(r))
        .flat_map(|r| r.queue_refs.iter().map(|q| q.value.as_str()))
        .collect();
    for q in &def.queues {
        let name = q.name.value.as_str();
        let always_routed = catch_all || caught.contains(name);
        if !always_routed && agents.has_agents(name) {
            if let Some(&qn) = queue_nodes.get(name) {
                graph.add_edge(qn, terminal, ());
            }
        }
    }
    let ends = reaches(&graph, terminal);
    let mut stuck: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (i, q, node) in route_nodes {
        if !ends[node.index()] {
            stuck.entry(i).or_default().push(q);
        }
    }
    for (i, names) in stuck {
        let r = &def.routes[i];
        let needs: Vec<String> = route_stages(r)
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

/// The requirements a route's calls go through: the route's own, then each step's.
fn route_stages(r: &RouteDef) -> Vec<&SkillExpr> {
    std::iter::once(&r.requires)
        .chain(
            r.steps
                .iter()
                .filter_map(|s| s.require.as_ref().map(|(e, _)| e)),
        )
        .collect()
}

/// For every node, whether it has a path to `target`: one walk backwards from the target,
/// instead of a search from each node.
fn reaches<N, E>(graph: &DiGraph<N, E>, target: NodeIndex) -> Vec<bool> {
    let mut seen = vec![false; graph.node_count()];
    seen[target.index()] = true;
    let mut stack = vec![target];
    while let Some(n) = stack.pop() {
        for from in graph.neighbors_directed(n, petgraph::Direction::Incoming) {
            cost::charge(1);
            if !seen[from.index()] {
                seen[from.index()] = true;
                stack.push(from);
            }
        }
    }
    seen
}

fn unreachable_steps(def: &RulesDef, diags: &mut Vec<Diag>) {
    for r in &def.routes {
        let Some(first_overflow) = r
            .steps
            .iter()
            .position(|s| s.overflow.is_some() && s.when.is_empty())
        else {
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

/// Under a number plan a `did` or `calling` pattern also matches numbers in canonical form
/// (`030*` matches `+4930…`), which `route_covers` compares as written: an earlier `0*` covers
/// `030*` as text but not the `+4930…` calls the later route also takes. So the earlier
/// route's number conditions must cover the later one's in canonical form too.
fn numbers_cover(plan: Option<&NumberPlan>, earlier: &RouteDef, later: &RouteDef) -> bool {
    let Some(plan) = plan else {
        return true;
    };
    let canonical = |ps: &[Pattern]| -> Vec<Pattern> {
        (ps.iter())
            .map(|p| Pattern::new(plan.canonical_pattern(p.as_str())))
            .collect()
    };
    let numbers = |c: &Condition| match c {
        Condition::Did(ps) => Some(Condition::Did(canonical(ps))),
        Condition::CallingNumber(ps) => Some(Condition::CallingNumber(canonical(ps))),
        _ => None,
    };
    earlier.conditions.iter().filter_map(numbers).all(|a| {
        later.conditions.iter().filter_map(numbers).any(|b| {
            std::mem::discriminant(&a) == std::mem::discriminant(&b) && condition_covers(&a, &b)
        })
    })
}

/// The list-valued conditions by which earlier routes are indexed, in the order a route's key
/// is chosen. A route can only be covered by an earlier one whose every condition kind it has
/// too, with a list holding all of its values; so an earlier route keyed by its queue list need
/// only be compared with later routes on one of those queues.
fn index_key(c: &Condition) -> Option<(u8, Vec<String>)> {
    match c {
        Condition::Queue(qs) => Some((0, qs.iter().map(|q| q.0.clone()).collect())),
        Condition::Language(ls) => Some((1, ls.clone())),
        Condition::Trunk(ts) => Some((2, ts.iter().map(|t| format!("{t:?}")).collect())),
        _ => None,
    }
}

/// Earlier routes grouped for [`shadowed_routes`]: under (kind, value) for each value of their
/// first list condition, or in `rest` when they have none.
#[derive(Default)]
struct RouteIndex {
    keyed: HashMap<(u8, String), Vec<usize>>,
    rest: Vec<usize>,
}

impl RouteIndex {
    fn add(&mut self, i: usize, route: &RouteDef) {
        match route
            .conditions
            .iter()
            .filter_map(index_key)
            .min_by_key(|(kind, _)| *kind)
        {
            Some((kind, values)) => {
                for v in values {
                    self.keyed.entry((kind, v)).or_default().push(i);
                }
            }
            None => self.rest.push(i),
        }
    }

    /// Indices of earlier routes that might cover `later`, ascending; `None` when the index
    /// cannot narrow it down (a list condition with no values) and every route must be tried.
    fn candidates(&self, later: &RouteDef) -> Option<Vec<usize>> {
        let mut out = self.rest.clone();
        for c in &later.conditions {
            if let Some((kind, values)) = index_key(c) {
                let first = values.into_iter().next()?;
                if let Some(ids) = self.keyed.get(&(kind, first)) {
                    out.extend(ids);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

fn shadowed_routes(def: &RulesDef, diags: &mut Vec<Diag>, position: &dyn Fn(&Loc) -> String) {
    let mut index = RouteIndex::default();
    for (j, later) in def.routes.iter().enumerate() {
        let candidates = index.candidates(later).unwrap_or_else(|| (0..j).collect());
        let earlier = candidates.into_iter().find(|&i| {
            cost::charge(1);
            route_covers(&def.routes[i], later)
                && numbers_cover(def.settings.numbering.as_ref(), &def.routes[i], later)
        });
        if let Some(earlier) = earlier.map(|i| &def.routes[i]) {
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
        index.add(j, later);
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

    #[test]
    fn a_route_is_shadowed_by_a_number_pattern_only_if_it_is_under_the_number_plan() {
        let shadowed = |settings: &str| {
            let text = format!(
                "{settings}[queues.Sales]\n\
                 [[routes]]\nname = \"zero\"\nqueue = \"Sales\"\ndid = \"0*\"\n\
                 [[routes]]\nname = \"berlin\"\nqueue = \"Sales\"\ndid = \"030*\"\n"
            );
            let checked = crate::check_sources(vec![crate::SourceFile::new("r.toml", text)]);
            (checked.report.diags.iter())
                .filter(|d| d.code == "rules::shadowed-route")
                .count()
        };
        // As text, `0*` covers `030*`.
        assert_eq!(shadowed(""), 1);
        // With a plan, `030*` also takes `+4930…` calls, which `0*` does not.
        assert_eq!(shadowed("[settings]\ncountry_code = \"49\"\n"), 0);
    }
}
