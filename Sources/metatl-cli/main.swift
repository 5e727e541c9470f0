print("metatl")
