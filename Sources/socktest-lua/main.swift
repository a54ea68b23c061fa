print("socktest-lua")
