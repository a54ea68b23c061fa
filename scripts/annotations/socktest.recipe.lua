---@meta socktest.recipe
-- LuaCATS annotations for `require("socktest.recipe")`, the helpers recipes are written with,
-- and the options every recipe (`require("recipes.NAME")(opts)`) accepts. Kept equal to the
-- live module by a test (AnnotationTests).

---Targeting and trigger options every recipe accepts, besides its own.
---@class socktest.RecipeOptions
---@field addr? socktest.Address which calls: this address (HOST:PORT, [HOST]:PORT or a unix path)
---@field port? integer which calls: this port
---@field family? "inet"|"inet4"|"inet6"|"unix"|"any" which sockets: this family (default inet: IPv4 and IPv6)
---@field type? "stream"|"tcp"|"datagram"|"udp"|"seqpacket"|"raw"|"any" which sockets: this type (default stream)
---@field nth? integer which of those fire: only the n-th
---@field every? integer which of those fire: every n-th
---@field chance? number which of those fire: with this probability
---@field [string] any the recipe's own options (see `socktest-lua recipes NAME`)

---A recipe: `require("recipes.refuse")({port = 8080, every = 2})` sets its filters.
---@alias socktest.Recipe fun(opts?: socktest.RecipeOptions)

---How an option's value is checked: "errno", "errnos", "count", "natural", "port",
---"probability", "seconds", "address", "family", "socktype", "op", "boolean", "size" (bytes:
---a whole number or with a k, m or g suffix), "direction" (read, write or both).
---@alias socktest.recipe.Kind "errno"|"errnos"|"count"|"natural"|"port"|"probability"|"seconds"|"address"|"family"|"socktype"|"op"|"boolean"|"size"|"direction"

---@class socktest.recipe
---The common options and their kinds.
---@field common table<string, socktest.recipe.Kind>
---Each `target`'s addr/port/family options and whether a call matched them (the run's
---report warns about those that matched none).
---@field targets socktest.recipe.Target[]
local recipe = {}

---@class socktest.recipe.Target
---@field recipe string the recipe's name
---@field addr? string
---@field port? integer
---@field family? "inet4"|"inet6"|"unix"
---@field matched boolean

---Checks opts against schema (option → kind) plus the common options and fills in defaults;
---an error names the recipe and the option.
---@param name string the recipe's name, for errors
---@param opts table|nil
---@param schema table<string, socktest.recipe.Kind>
---@param defaults? table
---@return socktest.RecipeOptions
function recipe.check(name, opts, schema, defaults) end

---A predicate on a status or a `socktest.sockets()` entry: is the socket of the family and
---type opts aim at? By default TCP over IPv4 or IPv6, so the UDP and unix sockets a program's
---libraries use on their own are left alone.
---@param opts socktest.RecipeOptions
---@return fun(so: socktest.status|socktest.socket): boolean
function recipe.kind(opts) end

---A predicate on the status: does the call match the kind (family, type), addr and port?
---connect and bind match their address; read, write and shutdown either end of the connection;
---the others the socket's own.
---@param opts socktest.RecipeOptions
---@return fun(so: socktest.status): boolean
function recipe.target(opts) end

---When to fire among matching calls: nth, every, chance, or (default) always.
---@param opts socktest.RecipeOptions
---@return socktest.Predicate
function recipe.trigger(opts) end

---The usual shape: `fire(so)` is true for matching calls when the trigger says so.
---@param opts socktest.RecipeOptions
---@return fun(so: socktest.status): boolean
function recipe.when(opts) end

---For a recipe that acts on every matching connection: an error naming the recipe when opts
---has nth, every or chance.
---@param opts socktest.RecipeOptions
---@param instead string what to do instead, for the message
function recipe.no_triggers(opts, instead) end

---Per-connection state for the data path: `state(so)` is a table of the connection the call is
---on, fresh once its descriptor has been closed (then given to `closed`, if any).
---@param closed? fun(state: table)
---@return fun(so: socktest.status): table
function recipe.connections(closed) end

---An after-filter that does nothing: a supervised program's call with one is made by the tool,
---so its bytes count in `so.read_total` / `so.written_total`.
---@param so socktest.status
function recipe.counted(so) end

---A read or write filter: once `opts.after` bytes have moved on a connection (counted in
---direction `dir`), matching calls get `answer(so)`; the stream call that would cross the
---limit is cut short exactly there; calls before it run (counted).
---@param opts socktest.RecipeOptions
---@param dir "read"|"write"|"both"
---@param answer fun(so: socktest.status): any
---@return fun(so: socktest.status): any
function recipe.after(opts, dir, answer) end

return recipe
