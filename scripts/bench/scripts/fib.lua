-- Recursive fib in Lua 5.4: the speed reference for spindle's interpreter.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
print(fib(@N@))
