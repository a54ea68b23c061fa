---@meta socktest.recipe
-- LuaCATS annotations for `require("socktest.recipe")`, the helpers recipes are written with,
-- and the options every recipe (`require("recipes.NAME")(opts)`) accepts. Kept equal to the
-- live module by a test (AnnotationTests).

---Targeting and trigger options every recipe accepts, besides its own.
---@class socktest.RecipeOptions
---@field addr? socktest.Address which calls: this address (HOST:PORT, [HOST]:PORT or a unix path)
---@field port? integer which calls: this port
---@field family? "inet4"|"inet6"|"unix" which calls: this family
---@field nth? integer which of those fire: only the n-th
---@field every? integer which of those fire: every n-th
---@field chance? number which of those fire: with this probability
---@field [string] any the recipe's own options (see `socktest-lua recipes NAME`)

---A recipe: `require("recipes.refuse")({port = 8080, every = 2})` sets its filters.
---@alias socktest.Recipe fun(opts?: socktest.RecipeOptions)

---How an option's value is checked: "errno", "errnos", "count", "natural", "port",
---"probability", "seconds", "address", "family", "op", "boolean".
---@alias socktest.recipe.Kind "errno"|"errnos"|"count"|"natural"|"port"|"probability"|"seconds"|"address"|"family"|"op"|"boolean"

---@class socktest.recipe
---The common options and their kinds.
---@field common table<string, socktest.recipe.Kind>
local recipe = {}

---Checks opts against schema (option → kind) plus the common options and fills in defaults;
---an error names the recipe and the option.
---@param name string the recipe's name, for errors
---@param opts table|nil
---@param schema table<string, socktest.recipe.Kind>
---@param defaults? table
---@return socktest.RecipeOptions
function recipe.check(name, opts, schema, defaults) end

---A predicate on the status: does the call match addr, port and family?
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

return recipe
