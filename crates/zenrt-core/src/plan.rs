//! The planner and executor: a graph is compiled once into a [`Plan`] (topological order,
//! value slots, last uses, kernels chosen by the backend), then run any number of times.

use crate::ops::{ExecCtx, Op};
use crate::{Attr, Dim, Error, Graph, Node, Result, Tensor, Value, ValueInfo};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A backend chooses, once at plan time, the kernel that runs each node.
/// The CPU reference backend runs each operator's reference implementation.
pub trait Backend: Send + Sync {
    fn name(&self) -> &str;
    /// The kernel for `node`, or `None` if this backend cannot run it.
    fn kernel(&self, node: &Node) -> Option<Arc<dyn Op>>;
}

/// Runs every node with its operator's reference implementation.
pub struct ReferenceBackend;

impl Backend for ReferenceBackend {
    fn name(&self) -> &str {
        "cpu-reference"
    }
    fn kernel(&self, node: &Node) -> Option<Arc<dyn Op>> {
        Some(node.op.clone())
    }
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// Filled by the caller (graph input) at run time.
    Input,
    /// A constant (initializer).
    Const,
    /// Produced by step `n`.
    Step,
    /// Read from the enclosing scope (subgraphs only).
    Outer,
}

struct Step {
    node: Node,
    kernel: Arc<dyn Op>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<Option<usize>>,
    /// Slots whose last reader is this step (freed after it runs).
    free_after: Vec<usize>,
}

/// How long one step (node) of a profiled run took; see [`Plan::run_profiled`].
#[derive(Debug, Clone)]
pub struct StepTiming {
    /// The node's name (or `OpType→first_output` when unnamed).
    pub node: String,
    pub op_type: String,
    /// Wall time of the kernel call (subgraphs of If/Loop/Scan included).
    pub elapsed: Duration,
}

/// A compiled graph, ready to run.
pub struct Plan {
    graph: Arc<Graph>,
    slot_names: Vec<String>,
    slot_of: HashMap<String, usize>,
    sources: Vec<Source>,
    consts: Vec<(usize, Arc<Tensor>)>,
    input_slots: Vec<(ValueInfo, usize)>,
    output_slots: Vec<usize>,
    steps: Vec<Step>,
    subplans: HashMap<usize, Arc<Plan>>,
    /// The intra-op thread pool kernels run in (`None`: one thread); see [`Plan::set_threads`].
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({} steps)", self.steps.len())
    }
}

fn graph_key(g: &Arc<Graph>) -> usize {
    Arc::as_ptr(g) as usize
}

impl Plan {
    /// Compiles `graph`. `outer` lists names visible from enclosing scopes (empty for a main graph).
    pub fn compile(graph: Arc<Graph>, backend: &dyn Backend, outer: &HashSet<String>) -> Result<Plan> {
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut slot_names: Vec<String> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        macro_rules! new_slot {
            ($name:expr, $src:expr) => {{
                let id = slot_names.len();
                slot_names.push($name.to_string());
                sources.push($src);
                slot_of.insert($name.to_string(), id);
                id
            }};
        }

        let mut consts = Vec::new();
        for (name, t) in &graph.initializers {
            let id = new_slot!(name, Source::Const);
            consts.push((id, t.clone()));
        }
        let mut input_slots = Vec::new();
        for vi in &graph.inputs {
            if graph.initializers.contains_key(&vi.name) {
                continue; // IR<4: initializer listed as input; it may still be overridden by the caller
            }
            if slot_of.contains_key(&vi.name) {
                return Err(Error::InvalidModel(format!("graph input '{}' is declared twice", vi.name)));
            }
            let id = new_slot!(&vi.name, Source::Input);
            input_slots.push((vi.clone(), id));
        }
        // Initializers listed as inputs may be fed by the caller too (ONNX semantics).
        for vi in &graph.inputs {
            if let Some(&id) = slot_of.get(&vi.name) {
                if matches!(sources[id], Source::Const) {
                    input_slots.push((vi.clone(), id));
                }
            }
        }

        // Producers of each value.
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                if producer.insert(o.as_str(), i).is_some() || slot_of.contains_key(o) {
                    return Err(Error::InvalidModel(format!(
                        "value '{o}' is produced more than once (node '{}')",
                        n.name
                    )));
                }
            }
        }

        // Values each node needs, including those its subgraphs read from this scope.
        let needs: Vec<Vec<String>> = graph
            .nodes
            .iter()
            .map(|n| {
                let mut v: Vec<String> = n.inputs.iter().filter(|i| !i.is_empty()).cloned().collect();
                for g in node_subgraphs(n) {
                    v.extend(g.free_values());
                }
                v
            })
            .collect();

        // Topological order (Kahn), stable with respect to file order.
        let n = graph.nodes.len();
        let mut indeg = vec![0usize; n];
        let mut users: Vec<Vec<usize>> = vec![vec![]; n];
        for (i, need) in needs.iter().enumerate() {
            let node = &graph.nodes[i];
            let mut seen = HashSet::new();
            for name in need {
                if let Some(&p) = producer.get(name.as_str()) {
                    if seen.insert(p) {
                        indeg[i] += 1;
                        users[p].push(i);
                    }
                } else if !slot_of.contains_key(name) && !outer.contains(name) {
                    return Err(Error::DanglingEdge { node: display_name(node), value: name.clone() });
                }
            }
        }
        let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &u in &users[i] {
                indeg[u] -= 1;
                if indeg[u] == 0 {
                    ready.insert(u);
                }
            }
        }
        if order.len() != n {
            let stuck: Vec<String> = (0..n).filter(|&i| indeg[i] > 0).map(|i| display_name(&graph.nodes[i])).collect();
            return Err(Error::Cycle(stuck));
        }

        // Outer-scope names read in this graph get slots too.
        for need in &needs {
            for name in need {
                if !slot_of.contains_key(name) && !producer.contains_key(name.as_str()) {
                    new_slot!(name, Source::Outer);
                }
            }
        }

        let mut steps = Vec::with_capacity(n);
        let mut missing_kernels = Vec::new();
        for &i in &order {
            let node = &graph.nodes[i];
            let inputs: Vec<Option<usize>> =
                node.inputs.iter().map(|s| if s.is_empty() { None } else { slot_of.get(s).copied() }).collect();
            let outputs: Vec<Option<usize>> = node
                .outputs
                .iter()
                .map(|o| if o.is_empty() { None } else { Some(new_slot!(o, Source::Step)) })
                .collect();
            let kernel = match backend.kernel(node) {
                Some(k) => k,
                None => {
                    missing_kernels.push(format!("{} ({})", node.op_type, display_name(node)));
                    node.op.clone()
                }
            };
            let kernel = prepare_kernel(kernel, node, &graph)?;
            steps.push(Step { node: node.clone(), kernel, inputs, outputs, free_after: vec![] });
        }
        if !missing_kernels.is_empty() {
            return Err(Error::Unsupported(format!(
                "backend {} cannot run: {}",
                backend.name(),
                missing_kernels.join(", ")
            )));
        }

        let mut output_slots = Vec::new();
        for o in &graph.outputs {
            match slot_of.get(&o.name) {
                Some(&s) => output_slots.push(s),
                None if outer.contains(&o.name) => output_slots.push(new_slot!(&o.name, Source::Outer)),
                None => return Err(Error::MissingOutput(o.name.clone())),
            }
        }

        // Last use of every slot produced or fed here; graph outputs are never freed.
        let keep: HashSet<usize> = output_slots.iter().copied().collect();
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (si, step) in steps.iter().enumerate() {
            let mut reads: Vec<usize> = step.inputs.iter().flatten().copied().collect();
            for g in node_subgraphs(&step.node) {
                reads.extend(g.free_values().iter().filter_map(|v| slot_of.get(v).copied()));
            }
            for s in reads {
                last_use.insert(s, si);
            }
        }
        for (&slot, &si) in &last_use {
            if !keep.contains(&slot) && matches!(sources[slot], Source::Step | Source::Input) {
                steps[si].free_after.push(slot);
            }
        }
        // Values produced but never read: free right away.
        for (si, step) in steps.iter_mut().enumerate() {
            for s in step.outputs.iter().flatten() {
                if !keep.contains(s) && !last_use.contains_key(s) {
                    step.free_after.push(*s);
                }
            }
            let _ = si;
        }

        // Compile subgraphs once, with everything visible here as their outer scope.
        let mut visible: HashSet<String> = outer.clone();
        visible.extend(slot_of.keys().cloned());
        let mut subplans = HashMap::new();
        for step in &steps {
            for g in node_subgraphs(&step.node) {
                let p = Plan::compile(g.clone(), backend, &visible)
                    .map_err(|e| e.context(format!("subgraph '{}' of node '{}'", g.name, display_name(&step.node))))?;
                subplans.insert(graph_key(&g), Arc::new(p));
            }
        }

        Ok(Plan { graph, slot_names, slot_of, sources, consts, input_slots, output_slots, steps, subplans, pool: None })
    }

    /// The graph this plan runs.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// Number of steps (nodes) in execution order.
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// Nodes in execution order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.steps.iter().map(|s| &s.node)
    }

    /// Runs the plan with named tensor inputs; returns the graph outputs in order
    /// (an error if an output is a sequence or optional: use [`Plan::run_values`]).
    pub fn run(&self, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>> {
        let outs = self.run_values(inputs.into_iter().map(|(n, t)| (n, Value::from(t))).collect())?;
        outs.into_iter().map(Value::into_tensor).collect()
    }

    /// Sets how many threads the kernels of [`Plan::run_values`]/[`Plan::run_profiled`] may use
    /// (a process-wide pool shared with other plans of the same count; 1 = serial).
    pub fn set_threads(&mut self, n: usize) {
        self.pool = crate::threads::pool(n);
    }

    /// The number of threads kernels use (see [`Plan::set_threads`]).
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// Runs the plan with named values (tensors, sequences, optionals).
    pub fn run_values(&self, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
        crate::threads::run_in(self.pool.as_deref(), || self.run_values_here(inputs))
    }

    fn run_values_here(&self, inputs: Vec<(String, Value)>) -> Result<Vec<Value>> {
        let mut values: Vec<Option<Value>> = vec![None; self.slot_names.len()];
        for (s, t) in &self.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        self.bind_inputs(&mut values, inputs)?;
        self.execute(values, None, None)
    }

    /// Runs like [`Plan::run_values`] and also times every step of the main graph, in execution order
    /// (the time of a control-flow node includes its subgraphs).
    pub fn run_profiled(&self, inputs: Vec<(String, Value)>) -> Result<(Vec<Value>, Vec<StepTiming>)> {
        crate::threads::run_in(self.pool.as_deref(), || self.run_profiled_here(inputs))
    }

    fn run_profiled_here(&self, inputs: Vec<(String, Value)>) -> Result<(Vec<Value>, Vec<StepTiming>)> {
        let mut values: Vec<Option<Value>> = vec![None; self.slot_names.len()];
        for (s, t) in &self.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        self.bind_inputs(&mut values, inputs)?;
        let mut timings = Vec::with_capacity(self.steps.len());
        let outs = self.execute(values, None, Some(&mut timings))?;
        Ok((outs, timings))
    }

    fn bind_inputs(&self, values: &mut [Option<Value>], inputs: Vec<(String, Value)>) -> Result<()> {
        let mut fed = HashSet::new();
        let mut sym: HashMap<String, usize> = HashMap::new();
        for (name, t) in inputs {
            let Some((vi, slot)) = self.input_slots.iter().find(|(vi, _)| vi.name == name) else {
                return Err(Error::UnknownInput {
                    name,
                    expected: self
                        .input_slots
                        .iter()
                        .filter(|(_, s)| matches!(self.sources[*s], Source::Input))
                        .map(|(v, _)| v.name.clone())
                        .collect(),
                });
            };
            if let Value::Tensor(t) = &t {
                check_input(vi, t, &mut sym)?;
            }
            fed.insert(*slot);
            values[*slot] = Some(t);
        }
        for (vi, slot) in &self.input_slots {
            if matches!(self.sources[*slot], Source::Input) && !fed.contains(slot) {
                return Err(Error::MissingInput(vi.name.clone()));
            }
        }
        Ok(())
    }

    /// Runs the steps; when `profile` is given, each step's wall time is appended to it.
    fn execute(
        &self,
        mut values: Vec<Option<Value>>,
        outer: Option<&Scope>,
        mut profile: Option<&mut Vec<StepTiming>>,
    ) -> Result<Vec<Value>> {
        // Outer-scope reads are resolved once per run.
        if let Some(sc) = outer {
            for (slot, src) in self.sources.iter().enumerate() {
                if matches!(src, Source::Outer) {
                    values[slot] = sc.lookup(&self.slot_names[slot]);
                }
            }
        }
        for step in &self.steps {
            let args: Vec<Option<&Value>> = step.inputs.iter().map(|s| s.and_then(|s| values[s].as_ref())).collect();
            for (k, s) in step.inputs.iter().enumerate() {
                if let Some(s) = s {
                    if values[*s].is_none() {
                        return Err(Error::Invalid(format!("input '{}' has no value", step.node.inputs[k]))
                            .in_node(&display_name(&step.node), &step.node.op_type));
                    }
                }
            }
            let scope = Scope { plan: self, values: &values, parent: outer };
            let started = profile.is_some().then(Instant::now);
            let outs = step
                .kernel
                .run_values(&scope, &args)
                .map_err(|e| e.in_node(&display_name(&step.node), &step.node.op_type))?;
            drop(args);
            if let (Some(sink), Some(t0)) = (profile.as_deref_mut(), started) {
                sink.push(StepTiming {
                    node: display_name(&step.node),
                    op_type: step.node.op_type.clone(),
                    elapsed: t0.elapsed(),
                });
            }
            if outs.len() < step.outputs.iter().filter(|o| o.is_some()).count() {
                return Err(Error::Invalid(format!(
                    "operator returned {} outputs, node has {}",
                    outs.len(),
                    step.outputs.len()
                ))
                .in_node(&display_name(&step.node), &step.node.op_type));
            }
            for (slot, t) in step.outputs.iter().zip(outs) {
                if let Some(slot) = slot {
                    values[*slot] = Some(t);
                }
            }
            for &s in &step.free_after {
                values[s] = None;
            }
        }
        self.output_slots
            .iter()
            .map(|&s| values[s].clone().ok_or_else(|| Error::MissingOutput(self.slot_names[s].clone())))
            .collect()
    }
}

/// The values visible while a step runs; subgraphs resolve outer names through it.
struct Scope<'a> {
    plan: &'a Plan,
    values: &'a [Option<Value>],
    parent: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
    fn lookup(&self, name: &str) -> Option<Value> {
        if let Some(&s) = self.plan.slot_of.get(name) {
            if let Some(v) = &self.values[s] {
                return Some(v.clone());
            }
        }
        self.parent.and_then(|p| p.lookup(name))
    }
}

impl ExecCtx for Scope<'_> {
    fn run_subgraph_values(&self, graph: &Arc<Graph>, inputs: Vec<Value>) -> Result<Vec<Value>> {
        let compiled;
        let plan = match self.plan.subplans.get(&graph_key(graph)) {
            Some(p) => p.as_ref(),
            None => {
                let mut visible: HashSet<String> = self.plan.slot_of.keys().cloned().collect();
                let mut p = self.parent;
                while let Some(sc) = p {
                    visible.extend(sc.plan.slot_of.keys().cloned());
                    p = sc.parent;
                }
                compiled = Plan::compile(graph.clone(), &ReferenceBackend, &visible)?;
                &compiled
            }
        };
        let formal: Vec<&ValueInfo> =
            plan.graph.inputs.iter().filter(|i| !plan.graph.initializers.contains_key(&i.name)).collect();
        if formal.len() != inputs.len() {
            return Err(Error::Invalid(format!(
                "subgraph '{}' takes {} inputs, got {}",
                graph.name,
                formal.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Value>> = vec![None; plan.slot_names.len()];
        for (s, t) in &plan.consts {
            values[*s] = Some(Value::Tensor(t.clone()));
        }
        for (vi, t) in formal.iter().zip(inputs) {
            let slot = plan.slot_of[&vi.name];
            values[slot] = Some(t);
        }
        plan.execute(values, Some(self), None)
    }
}

fn check_input(vi: &ValueInfo, t: &Tensor, sym: &mut HashMap<String, usize>) -> Result<()> {
    if let Some(dt) = vi.dtype {
        if dt != t.dtype() {
            return Err(Error::BadInput {
                name: vi.name.clone(),
                msg: format!("expected dtype {dt}, got {}", t.dtype()),
            });
        }
    }
    if let Some(shape) = &vi.shape {
        if shape.len() != t.rank() {
            return Err(Error::BadInput {
                name: vi.name.clone(),
                msg: format!("expected rank {} ({}), got shape {:?}", shape.len(), vi.type_string(), t.shape()),
            });
        }
        for (i, (d, &n)) in shape.iter().zip(t.shape()).enumerate() {
            match d {
                Dim::Known(k) if *k != n => {
                    return Err(Error::BadInput {
                        name: vi.name.clone(),
                        msg: format!("dimension {i} must be {k} ({}), got shape {:?}", vi.type_string(), t.shape()),
                    })
                }
                Dim::Sym(s) => {
                    if let Some(&prev) = sym.get(s) {
                        if prev != n {
                            return Err(Error::BadInput {
                                name: vi.name.clone(),
                                msg: format!("dimension {i} ('{s}') is {n}, but another input set '{s}' to {prev}"),
                            });
                        }
                    } else {
                        sym.insert(s.clone(), n);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Lets `kernel` specialise itself for the node's constant inputs (initializers the caller cannot
/// override), e.g. pre-pack weights; see [`Op::prepare`].
fn prepare_kernel(kernel: Arc<dyn Op>, node: &Node, graph: &Graph) -> Result<Arc<dyn Op>> {
    let consts: Vec<Option<&Tensor>> = node
        .inputs
        .iter()
        .map(|n| match graph.inputs.iter().any(|i| &i.name == n) {
            true => None,
            false => graph.initializers.get(n).map(|t| t.as_ref()),
        })
        .collect();
    if consts.iter().all(Option::is_none) {
        return Ok(kernel);
    }
    let prepared = kernel.prepare(&consts).map_err(|e| e.in_node(&display_name(node), &node.op_type))?;
    Ok(prepared.unwrap_or(kernel))
}

/// The subgraphs held in a node's attributes.
pub fn node_subgraphs(n: &Node) -> Vec<Arc<Graph>> {
    let mut v = Vec::new();
    for a in n.attrs.values() {
        match a {
            Attr::Graph(g) => v.push(g.clone()),
            Attr::Graphs(gs) => v.extend(gs.iter().cloned()),
            _ => {}
        }
    }
    v
}

/// A node's name for messages (its first output when unnamed).
pub fn display_name(n: &Node) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        format!("{}→{}", n.op_type, n.outputs.first().cloned().unwrap_or_default())
    }
}
